package awsjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
)

// The conformance suites of aws-sdk-go v1 describe what a client sends for given parameters (input) and what it
// reads from a given answer (output). The server side of each is checked here: decoding "serialized" must give
// "params", and encoding "result" must give a body that means the same as "response.body".

var suiteDir = filepath.Join(os.Getenv("HOME"), "go/pkg/mod/github.com/aws/aws-sdk-go@v1.55.8/models/protocol_tests")

type suite struct {
	Description string          `json:"description"`
	Metadata    json.RawMessage `json:"metadata"`
	Shapes      json.RawMessage `json:"shapes"`
	Cases       []struct {
		Given      json.RawMessage `json:"given"`
		Params     json.RawMessage `json:"params"`
		Serialized struct {
			Body    string            `json:"body"`
			Headers map[string]string `json:"headers"`
			URI     string            `json:"uri"`
		} `json:"serialized"`
		Result   json.RawMessage `json:"result"`
		Response struct {
			StatusCode int               `json:"status_code"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
		} `json:"response"`
	} `json:"cases"`
}

// clientOnly names the cases that test a client's own behaviour, which a server has no part in.
var clientOnly = map[string]string{
	"input/Idempotency token auto fill/1":          "the client fills an absent idempotency token itself",
	"output/Ignores extra data/0":                  "the client ignores members it does not know; a server never sends them",
	"output/unmodeled non-json response payload/0": "the client tolerates a body that is not JSON; a server always sends JSON",
	"output/unmodeled non-json response payload/1": "the client tolerates a body that is not an object; a server always sends an object",
}

func loadSuites(t *testing.T, kind string) []suite {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(suiteDir, kind, "json.json"))
	if err != nil {
		t.Skipf("protocol tests of aws-sdk-go v1 not in the module cache: %v", err)
	}
	var suites []suite
	if err := json.Unmarshal(data, &suites); err != nil {
		t.Fatal(err)
	}
	return suites
}

// buildOp links a suite's shapes with one case's operation.
func buildOp(t *testing.T, s suite, given json.RawMessage) *wire.Operation {
	t.Helper()
	var g struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(given, &g); err != nil {
		t.Fatal(err)
	}
	ops, _ := json.Marshal(map[string]json.RawMessage{g.Name: given})
	spec, err := wire.ParseBotocoreParts(s.Metadata, ops, s.Shapes)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := wire.Build("suite", spec)
	if err != nil {
		t.Fatal(err)
	}
	return svc.Operations[g.Name]
}

func TestConformanceInput(t *testing.T) {
	for _, s := range loadSuites(t, "input") {
		for i, c := range s.Cases {
			name := fmt.Sprintf("input/%s/%d", s.Description, i)
			t.Run(name, func(t *testing.T) {
				if why, ok := clientOnly[name]; ok {
					t.Skip(why)
				}
				op := buildOp(t, s, c.Given)
				uri := c.Serialized.URI
				if uri == "" {
					uri = "/"
				}
				r := httptest.NewRequest(http.MethodPost, uri, strings.NewReader(c.Serialized.Body))
				for k, v := range c.Serialized.Headers {
					r.Header.Set(k, v)
				}
				got, err := Codec{}.DecodeRequest(op, r)
				if err != nil {
					t.Fatalf("decode %s: %v", c.Serialized.Body, err)
				}
				want := paramsTree(t, op.Input.Shape, c.Params)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("decode %s\n got %#v\nwant %#v", c.Serialized.Body, got, want)
				}
			})
		}
	}
}

func TestConformanceOutput(t *testing.T) {
	for _, s := range loadSuites(t, "output") {
		for i, c := range s.Cases {
			name := fmt.Sprintf("output/%s/%d", s.Description, i)
			t.Run(name, func(t *testing.T) {
				if why, ok := clientOnly[name]; ok {
					t.Skip(why)
				}
				op := buildOp(t, s, c.Given)
				rec := httptest.NewRecorder()
				if err := (Codec{}).EncodeResponse(rec, op, paramsTree(t, op.Output.Shape, c.Result), "req-1"); err != nil {
					t.Fatal(err)
				}
				if rec.Code != c.Response.StatusCode {
					t.Errorf("status %d, want %d", rec.Code, c.Response.StatusCode)
				}
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/x-amz-json-1.") {
					t.Errorf("Content-Type %q", ct)
				}
				if id := rec.Header().Get("X-Amzn-Requestid"); id != "req-1" {
					t.Errorf("x-amzn-RequestId %q", id)
				}
				var got, want any
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("answer %s is not JSON: %v", rec.Body, err)
				}
				if err := json.Unmarshal([]byte(c.Response.Body), &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body\n got %s\nwant %s", rec.Body, c.Response.Body)
				}
			})
		}
	}
}

// paramsTree turns a case's parameters into the tree the codec should produce or consume. The suites write
// timestamps as epoch seconds and blobs as their plain text.
func paramsTree(t *testing.T, sh *wire.Shape, raw json.RawMessage) map[string]any {
	t.Helper()
	if len(raw) == 0 {
		return map[string]any{}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	tree := map[string]any{}
	for k, e := range v {
		m, _, ok := sh.MemberByName(k)
		if !ok {
			t.Fatalf("params name unknown member %s", k)
		}
		tree[k] = paramValue(t, m.Shape, e)
	}
	return tree
}

func paramValue(t *testing.T, sh *wire.Shape, v any) any {
	if v == nil {
		return nil
	}
	switch sh.Type {
	case wire.TypeStructure:
		raw, _ := json.Marshal(v)
		return paramsTree(t, sh, raw)
	case wire.TypeList:
		var out []any
		for _, e := range v.([]any) {
			out = append(out, paramValue(t, sh.Member.Shape, e))
		}
		if out == nil {
			out = []any{}
		}
		return out
	case wire.TypeMap:
		out := map[string]any{}
		for k, e := range v.(map[string]any) {
			out[k] = paramValue(t, sh.Value.Shape, e)
		}
		return out
	case wire.TypeInteger, wire.TypeLong:
		n, err := strconv.ParseInt(string(v.(json.Number)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	case wire.TypeFloat, wire.TypeDouble:
		f, err := v.(json.Number).Float64()
		if err != nil {
			t.Fatal(err)
		}
		return f
	case wire.TypeTimestamp:
		n, err := v.(json.Number).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(n, 0).UTC()
	case wire.TypeBlob:
		return []byte(v.(string))
	}
	return v
}
