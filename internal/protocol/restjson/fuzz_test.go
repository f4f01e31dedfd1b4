package restjson

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/overcast-cloud/overcast/api/batch"
	"github.com/overcast-cloud/overcast/api/lambda"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
)

// FuzzDecodeRequest routes and decodes arbitrary requests against the Lambda and Batch models: whatever the
// bytes, the decoder answers with a tree or an error, never a panic.
func FuzzDecodeRequest(f *testing.F) {
	f.Add("POST", "/2015-03-31/functions", `{"FunctionName":"f","Code":{"ZipFile":"UEsDBA=="},"MemorySize":128,"Environment":{"Variables":{"A":"b"}}}`, "")
	f.Add("POST", "/2015-03-31/functions/f/invocations?Qualifier=1", `{"x":1}`, "Tail")
	f.Add("GET", "/2015-03-31/functions/?MaxItems=abc&Marker=%zz", "", "")
	f.Add("POST", "/v1/submitjob", `{"jobName":"j","containerOverrides":{"command":["a",1]},"timeout":{"attemptDurationSeconds":1e99}}`, "")
	f.Add("POST", "/v1/describejobs", `[[[[{}]]]]`, "")
	routers := []*httpbind.Router{httpbind.NewRouter(lambda.Model()), httpbind.NewRouter(batch.Model())}
	codec := New()
	f.Fuzz(func(t *testing.T, method, target, body, header string) {
		req, err := http.NewRequest(method, "http://svc.localhost"+target, bytes.NewBufferString(body))
		if err != nil {
			return
		}
		req.Header.Set("X-Amz-Log-Type", header)
		req.Header.Set("X-Amz-Client-Context", header)
		for _, r := range routers {
			if op, ok := r.MatchRequest(req); ok {
				codec.DecodeRequest(op, req)
			}
		}
	})
}
