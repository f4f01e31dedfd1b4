// Package protocoltest loads the protocol conformance suites of aws-sdk-go v1 (models/protocol_tests) for the
// server-side tests of the XML codecs: each case becomes an operation of its own small service, with its
// params or result turned into a value tree (see api/wire/tree.go) that can be compared with what a codec
// decodes. It is imported by tests only.
package protocoltest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc"
)

// Case is one conformance case.
type Case struct {
	Suite string
	Index int
	Op    *wire.Operation

	// input cases
	Params     map[string]any // what the client serialized, as a value tree
	Serialized struct {
		Method string
		URI    string
		Body   string
		Host   string
	}

	// output cases
	Result   map[string]any // what the client must read, as a value tree
	Response struct {
		Status int
		Body   string
	}
}

// Name is the subtest name: the suite's description and the case's position in it.
func (c *Case) Name() string { return fmt.Sprintf("%s/%d", c.Suite, c.Index) }

type rawSuite struct {
	Description string                     `json:"description"`
	Metadata    json.RawMessage            `json:"metadata"`
	Shapes      map[string]json.RawMessage `json:"shapes"`
	Cases       []struct {
		Given      map[string]any  `json:"given"`
		Params     json.RawMessage `json:"params"`
		Serialized struct {
			URI  string `json:"uri"`
			Body string `json:"body"`
			Host string `json:"host"`
		} `json:"serialized"`
		Result   json.RawMessage `json:"result"`
		Response struct {
			StatusCode int    `json:"status_code"`
			Body       string `json:"body"`
		} `json:"response"`
	} `json:"cases"`
}

// Load reads the suites of kind ("input" or "output") for protocol ("ec2", "query"). It skips t when the
// aws-sdk-go module is not in the module cache.
func Load(t testing.TB, kind, protocol string) []*Case {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("aws-sdk-go module not available: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "models", "protocol_tests", kind, protocol+".json"))
	if err != nil {
		t.Skipf("protocol tests not available: %v", err)
	}
	var suites []rawSuite
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&suites); err != nil {
		t.Fatalf("parsing %s/%s.json: %v", kind, protocol, err)
	}
	var cases []*Case
	for _, s := range suites {
		shapes, err := json.Marshal(s.Shapes)
		if err != nil {
			t.Fatal(err)
		}
		for i, rc := range s.Cases {
			c := &Case{Suite: s.Description, Index: i}
			c.Op = buildOperation(t, s, rc.Given, shapes)
			if kind == "input" {
				c.Params = toTree(t, c.Op.Input, rc.Params)
				c.Serialized.Method = c.Op.HTTPMethod
				c.Serialized.URI, c.Serialized.Body, c.Serialized.Host = rc.Serialized.URI, rc.Serialized.Body, rc.Serialized.Host
			} else {
				c.Result = toTree(t, c.Op.Output, rc.Result)
				c.Response.Status, c.Response.Body = rc.Response.StatusCode, rc.Response.Body
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// buildOperation links the suite's shapes with the case's "given" operation into a service of one operation.
func buildOperation(t testing.TB, s rawSuite, given map[string]any, shapes []byte) *wire.Operation {
	t.Helper()
	name, _ := given["name"].(string)
	// Some suites put resultWrapper on the output shape rather than on the output reference, where botocore's
	// real models (and wire.Member) carry it; move it to the reference.
	if out, ok := given["output"].(map[string]any); ok && out["resultWrapper"] == nil {
		var sh struct {
			ResultWrapper string `json:"resultWrapper"`
		}
		if raw, ok := s.Shapes[fmt.Sprint(out["shape"])]; ok && json.Unmarshal(raw, &sh) == nil && sh.ResultWrapper != "" {
			out["resultWrapper"] = sh.ResultWrapper
		}
	}
	ops, err := json.Marshal(map[string]any{name: given})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := wire.ParseBotocoreParts(s.Metadata, ops, shapes)
	if err != nil {
		t.Fatalf("%s: %v", s.Description, err)
	}
	svc, err := wire.Build(s.Description, spec)
	if err != nil {
		t.Fatalf("%s: %v", s.Description, err)
	}
	return svc.Operations[name]
}

// toTree turns the suite's JSON for a structure of ref's shape into a value tree: numbers become int64 or
// float64 by shape type, timestamps (epoch seconds) time.Time, blobs (plain strings) []byte.
func toTree(t testing.TB, ref *wire.Member, raw json.RawMessage) map[string]any {
	t.Helper()
	if ref == nil || len(raw) == 0 {
		return map[string]any{}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	tree, err := convert(ref.Shape, v)
	if err != nil {
		t.Fatalf("%s: %v", ref.Shape.Name, err)
	}
	m, _ := tree.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

func convert(sh *wire.Shape, v any) (any, error) {
	switch sh.Type {
	case wire.TypeStructure:
		in, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("structure %s: got %T", sh.Name, v)
		}
		out := make(map[string]any, len(in))
		for k, e := range in {
			m, _, ok := sh.MemberByName(k)
			if !ok {
				return nil, fmt.Errorf("structure %s has no member %s", sh.Name, k)
			}
			c, err := convert(m.Shape, e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case wire.TypeList:
		in, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("list %s: got %T", sh.Name, v)
		}
		out := make([]any, len(in))
		for i, e := range in {
			c, err := convert(sh.Member.Shape, e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case wire.TypeMap:
		in, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("map %s: got %T", sh.Name, v)
		}
		out := make(map[string]any, len(in))
		for k, e := range in {
			c, err := convert(sh.Value.Shape, e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case wire.TypeInteger, wire.TypeLong:
		return v.(json.Number).Int64()
	case wire.TypeFloat, wire.TypeDouble:
		return v.(json.Number).Float64()
	case wire.TypeTimestamp:
		f, err := v.(json.Number).Float64()
		if err != nil {
			return nil, err
		}
		return time.UnixMilli(int64(f * 1000)).UTC(), nil
	case wire.TypeBlob:
		return []byte(v.(string)), nil
	default:
		return v, nil
	}
}

// Equal compares two value trees, timestamps by instant.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	default:
		return a == b
	}
}

// RunInput decodes, with codec, each request a client serializes in the input suite of proto and expects
// exactly the params the client was given. skip names cases (by Case.Name) that test client-only behaviour,
// with the reason.
func RunInput(t *testing.T, codec protocol.Codec, proto string, skip map[string]string) {
	for _, c := range Load(t, "input", proto) {
		t.Run(c.Name(), func(t *testing.T) {
			if reason, ok := skip[c.Name()]; ok {
				t.Skip(reason)
			}
			r := httptest.NewRequest(c.Serialized.Method, c.Serialized.URI, strings.NewReader(c.Serialized.Body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			if c.Serialized.Host != "" {
				r.Host = c.Serialized.Host
			}
			got, err := codec.DecodeRequest(c.Op, r)
			if err != nil {
				t.Fatal(err)
			}
			if !Equal(got, c.Params) {
				t.Errorf("decoded %#v\nwant    %#v\nfrom    %s", got, c.Params, c.Serialized.Body)
			}
		})
	}
}

// RunOutput encodes, with codec, each result of the output suite of proto and expects a client to read the
// same tree from our body as from AWS's. resultPath names the elements from the root down to the one whose
// children are the output members.
func RunOutput(t *testing.T, codec protocol.Codec, proto string, resultPath func(*wire.Operation) []string) {
	for _, c := range Load(t, "output", proto) {
		t.Run(c.Name(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := codec.EncodeResponse(rec, c.Op, c.Result, "request-id"); err != nil {
				t.Fatal(err)
			}
			path := resultPath(c.Op)
			want := ReadTree(t, c.Op.Output.Shape, c.Response.Body, path...)
			got := ReadTree(t, c.Op.Output.Shape, rec.Body.String(), path...)
			if !Equal(want, c.Result) {
				t.Fatalf("test reader disagrees with the suite: read %#v from AWS's body, suite says %#v", want, c.Result)
			}
			if !Equal(got, want) {
				t.Errorf("client would read\n %#v\nfrom our body, and\n %#v\nfrom AWS's\nbody: %s", got, want, rec.Body)
			}
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/xml" {
				t.Errorf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
		})
	}
}

// ReadTree reads the structure of shape sh at path in body the way a strict client (aws-sdk-go-v2) does.
func ReadTree(t testing.TB, sh *wire.Shape, body string, path ...string) map[string]any {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	if err := xmlenc.FindElement(d, path...); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	tree, err := xmlenc.DecodeMembers(d, sh)
	if err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return tree
}

// Handler answers one decoded operation with an output tree or an error.
type Handler func(op *wire.Operation, in map[string]any) (map[string]any, *protocol.Error)

// Server serves svc's query-style operations (routed by the Action parameter) through codec, so that a real
// SDK client can be pointed at it. A request the codec cannot decode fails the test.
func Server(t testing.TB, svc *wire.Service, codec protocol.Codec, h Handler) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const requestID = "11111111-2222-3333-4444-555555555555"
		if err := r.ParseForm(); err != nil {
			t.Errorf("parsing form: %v", err)
			return
		}
		op, ok := svc.Operation(r.Form.Get("Action"))
		if !ok {
			t.Errorf("unknown action %q", r.Form.Get("Action"))
			codec.EncodeError(w, svc, &protocol.Error{Code: "InvalidAction", Status: 400, Sender: true}, requestID)
			return
		}
		in, err := codec.DecodeRequest(op, r)
		if err != nil {
			t.Errorf("decoding %s: %v", op.Name, err)
			return
		}
		out, perr := h(op, in)
		if perr != nil {
			codec.EncodeError(w, svc, perr, requestID)
			return
		}
		if err := codec.EncodeResponse(w, op, out, requestID); err != nil {
			t.Errorf("encoding %s: %v", op.Name, err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// SDKConfig is the configuration of an aws-sdk-go-v2 client of svc talking to a Server that runs codec with h:
// anonymous, in us-east-1, and without retries, so that a failure shows at once.
func SDKConfig(t testing.TB, svc *wire.Service, codec protocol.Codec, h Handler) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(Server(t, svc, codec, h).URL),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient:       testutil.SDKHTTPClient(),
	}
}

// Operation is svc's operation name; a model without it fails the test.
func Operation(t testing.TB, svc *wire.Service, name string) *wire.Operation {
	t.Helper()
	o, ok := svc.Operation(name)
	if !ok {
		t.Fatalf("no operation %s", name)
	}
	return o
}
