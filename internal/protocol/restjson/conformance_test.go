package restjson

import (
	"testing"

	"github.com/overcast-cloud/overcast/internal/protocol/httpbind/suite"
)

func TestConformanceInput(t *testing.T) {
	suite.RunInput(t, "input/rest-json.json", New(), map[string]string{
		"19 Idempotency token auto fill/1": "client-only: the SDK fills an absent idempotency token",
	})
}

func TestConformanceOutput(t *testing.T) {
	suite.RunOutput(t, "output/rest-json.json", New(), map[string]string{
		"09 Supports header maps/0": "the result claims Content-Length: 10 for a 2-byte body; a server sends the true length",
	})
}
