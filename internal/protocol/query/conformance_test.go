package query

import (
	"testing"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc/protocoltest"
)

// TestConformanceInput runs the server side of aws-sdk-go's query input suite.
func TestConformanceInput(t *testing.T) {
	protocoltest.RunInput(t, New(), "query", map[string]string{
		"Idempotency token auto fill/1": "the client generates a missing idempotency token; the server reads the token it is sent",
	})
}

// TestConformanceOutput runs the server side of aws-sdk-go's query output suite.
func TestConformanceOutput(t *testing.T) {
	protocoltest.RunOutput(t, New(), "query", func(op *wire.Operation) []string {
		if op.Output.ResultWrapper != "" {
			return []string{op.Name + "Response", op.Output.ResultWrapper}
		}
		return []string{op.Name + "Response"}
	})
}
