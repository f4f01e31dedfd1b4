package suite

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
)

// RunInput checks the server side of every input case of file: the request the client serialized routes to
// the case's operation and decodes to the client's parameters. skip names client-only cases with the reason.
func RunInput(t *testing.T, file string, codec protocol.Codec, skip map[string]string) {
	for _, c := range Load(t, file) {
		t.Run(c.Name, func(t *testing.T) {
			if reason, ok := skip[c.Name]; ok {
				t.Skip(reason)
			}
			req := c.Request()
			op, ok := httpbind.NewRouter(c.Svc).MatchRequest(req)
			if !ok || op != c.Op {
				t.Fatalf("%s %s routed to %v, want %s", req.Method, c.Serialized.URI, op, c.Op.Name)
			}
			got, err := codec.DecodeRequest(op, req)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if op.Input == nil {
				if len(got) != 0 {
					t.Fatalf("decoded %v from an operation without input", got)
				}
				return
			}
			if d := Diff(op.Input.Shape, Tree(op.Input.Shape, c.Params), got); d != "" {
				t.Errorf("decoded input differs: %s", d)
			}
		})
	}
}

// RunOutput checks the server side of every output case of file: the encoded result has the expected status
// and headers, and its body reads back (by the same shape) as the result, as the expected body does. Root
// element names are not compared: clients ignore them, and the cases disagree among themselves.
func RunOutput(t *testing.T, file string, codec protocol.Codec, skip map[string]string) {
	for _, c := range Load(t, file) {
		t.Run(c.Name, func(t *testing.T) {
			if reason, ok := skip[c.Name]; ok {
				t.Skip(reason)
			}
			op := c.Op
			var want map[string]any
			if op.Output != nil {
				want = Tree(op.Output.Shape, c.Result)
			}
			rec := httptest.NewRecorder()
			if err := codec.EncodeResponse(rec, op, want, "requestid"); err != nil {
				t.Fatalf("EncodeResponse: %v", err)
			}
			if rec.Code != c.Response.StatusCode {
				t.Errorf("status %d, want %d", rec.Code, c.Response.StatusCode)
			}
			for k, v := range c.Response.Headers {
				got := rec.Header().Get(k)
				if got == v {
					continue
				}
				if m := headerMember(op, k); m != nil && m.Shape.Type == wire.TypeTimestamp && sameTime(got, v) {
					continue
				}
				t.Errorf("header %s: %q, want %q", k, got, v)
			}
			if op.Output == nil {
				return // nothing for the client to read
			}
			bodyWant := bodyMembers(op.Output.Shape, want)
			for _, side := range []struct{ name, body string }{{"ours", rec.Body.String()}, {"expected", c.Response.Body}} {
				got := readBack(t, codec, op, side.body)
				if d := Diff(op.Output.Shape, bodyWant, bodyMembers(op.Output.Shape, got)); d != "" {
					t.Errorf("%s body %q reads back differently: %s", side.name, side.body, d)
				}
			}
		})
	}
}

// readBack decodes a response body by the output shape, through the codec's request decoder: an operation
// whose input is op's output reads the same body forms.
func readBack(t *testing.T, codec protocol.Codec, op *wire.Operation, body string) map[string]any {
	mirror := &wire.Operation{Service: op.Service, Name: op.Name, HTTPMethod: "POST", RequestURI: "/", Input: op.Output}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewBufferString(body))
	got, err := codec.DecodeRequest(mirror, req)
	if err != nil {
		t.Fatalf("reading body %q: %v", body, err)
	}
	return got
}

func bodyMembers(sh *wire.Shape, tree map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range sh.Members {
		if v, ok := tree[m.Name]; ok && httpbind.IsBodyMember(m) {
			out[m.Name] = v
		}
	}
	return out
}

func headerMember(op *wire.Operation, name string) *wire.Member {
	if op.Output == nil {
		return nil
	}
	for _, m := range op.Output.Shape.Members {
		if m.Location == wire.LocationHeader && strings.EqualFold(m.WireName(), name) {
			return m
		}
	}
	return nil
}

func sameTime(a, b string) bool {
	ta, err1 := httpbind.ParseTimestamp(a)
	tb, err2 := httpbind.ParseTimestamp(b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}
