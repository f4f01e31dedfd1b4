package restxml

import (
	"testing"

	"github.com/overcast-cloud/overcast/internal/protocol/httpbind/suite"
)

func TestConformanceInput(t *testing.T) {
	suite.RunInput(t, "input/rest-xml.json", New(), map[string]string{
		"23 Idempotency token auto fill/1": "client-only: the SDK fills an absent idempotency token",
		"26 Header whitespace/0":           "client-only: the SDK trims header whitespace, and net/http's reader trims it again",
	})
}

func TestConformanceOutput(t *testing.T) {
	suite.RunOutput(t, "output/rest-xml.json", New(), nil)
}
