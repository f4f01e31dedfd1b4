// Package testutil holds the one guard for tests that need host capabilities. A test that needs root,
// network namespaces, cgroups or overlayfs calls RequiresRoot; it skips only where the capability is truly
// absent (not root), and CI runs as root, so those tests always run there.
package testutil

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"testing"
)

// RequiresRoot skips the test unless it runs as root.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root, and CI must run it")
		}
		t.Skip("needs root")
	}
}

// RequiresTool fails the test when a host tool the project installs (scripts/deps.sh) is missing.
func RequiresTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed; run scripts/deps.sh", name)
	}
	return p
}

// SDKHTTPClient is an HTTP client for aws-sdk-go-v2 in tests that turn retries off. The SDK closes a request's
// body as soon as the call returns, and against a fast local server Go's transport may then drop the
// connection while the response is still being read ("use of closed network connection",
// aws/aws-sdk-go-v2#2737). Giving the transport its own copy of the body avoids it, so a test sees the real
// first answer rather than a transport accident.
func SDKHTTPClient() *http.Client {
	return &http.Client{Transport: ownBody{http.DefaultTransport.(*http.Transport).Clone()}}
}

type ownBody struct{ next http.RoundTripper }

func (o ownBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return o.next.RoundTrip(r)
	}
	data, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	c := r.Clone(r.Context())
	c.Body = io.NopCloser(bytes.NewReader(data))
	c.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	c.ContentLength = int64(len(data))
	return o.next.RoundTrip(c)
}
