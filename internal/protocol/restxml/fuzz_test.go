package restxml

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
)

// FuzzDecodeRequest routes and decodes arbitrary requests against the S3 model: whatever the bytes, the
// decoder answers with a tree or an error, never a panic.
func FuzzDecodeRequest(f *testing.F) {
	f.Add("POST", "/b/k?uploadId=u", `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>`, "")
	f.Add("PUT", "/b?tagging", `<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`, "")
	f.Add("POST", "/b?delete", `<Delete><Object><Key>a</Key></Object><Quiet>maybe</Quiet></Delete>`, "")
	f.Add("PUT", "/b?acl", `<AccessControlPolicy><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>1</ID></Grantee></Grant></AccessControlList></AccessControlPolicy>`, "")
	f.Add("PUT", "/b/k%zz?partNumber=x&uploadId=u", "data", "Thu, 01 Dec 1994 16:00:00 GMT")
	f.Add("PUT", "/b", `<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>`, "")
	router := httpbind.NewRouter(s3.Model())
	codec := New()
	f.Fuzz(func(t *testing.T, method, target, body, header string) {
		req, err := http.NewRequest(method, "http://s3.localhost"+target, bytes.NewBufferString(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Length", header)
		req.Header.Set("If-Modified-Since", header)
		req.Header.Set("X-Amz-Meta-"+header, header)
		req.Header.Set("X-Amz-Copy-Source", header)
		if op, ok := router.MatchRequest(req); ok {
			codec.DecodeRequest(op, req)
		}
	})
}
