package memory_test

import (
	"testing"

	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/memory"
	"github.com/overcast-cloud/overcast/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := memory.NewWith(memory.Options{History: storetest.HistorySize, WatchBuffer: storetest.WatchBuffer})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
