package httpbind

import (
	"net/http"
	"testing"

	"github.com/overcast-cloud/overcast/api/lambda"
	"github.com/overcast-cloud/overcast/api/s3"
)

// FuzzMatchAndBind routes arbitrary paths and queries and decodes their bindings: never a panic.
func FuzzMatchAndBind(f *testing.F) {
	f.Add("GET", "/b/k%2F%20x/?list-type=2&x-id=GetObject&uploads", "a, \"b,c\", d")
	f.Add("HEAD", "//", "Thu, 01 Dec 1994 16:00:00 GMT, Fri, 02 Dec 1994 16:00:00 GMT")
	f.Add("GET", "/2015-03-31/functions/%ZZ/invocations", "")
	routers := []*Router{NewRouter(s3.Model()), NewRouter(lambda.Model())}
	f.Fuzz(func(t *testing.T, method, target, header string) {
		req, err := http.NewRequest(method, "http://h.localhost"+target, nil)
		if err != nil {
			return
		}
		req.Header.Set("X-Amz-Optional-Object-Attributes", header)
		req.Header.Set("X-Amz-Object-Attributes", header)
		req.Header.Set("If-Unmodified-Since", header)
		for _, r := range routers {
			if op, ok := r.MatchRequest(req); ok {
				DecodeBindings(op, req, map[string]any{})
			}
		}
	})
}
