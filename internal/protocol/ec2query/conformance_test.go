package ec2query

import (
	"testing"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc/protocoltest"
)

// TestConformanceInput runs the server side of aws-sdk-go's ec2 input suite.
func TestConformanceInput(t *testing.T) {
	protocoltest.RunInput(t, New(), "ec2", map[string]string{
		"Idempotency token auto fill/1": "the client generates a missing idempotency token; the server reads the token it is sent",
	})
}

// TestConformanceOutput runs the server side of aws-sdk-go's ec2 output suite.
func TestConformanceOutput(t *testing.T) {
	protocoltest.RunOutput(t, New(), "ec2", func(op *wire.Operation) []string {
		return []string{op.Name + "Response"}
	})
}
