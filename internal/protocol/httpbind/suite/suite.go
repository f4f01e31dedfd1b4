// Package suite loads the protocol conformance cases of aws-sdk-go v1 (models/protocol_tests) for the server
// side tests of the REST codecs: each case becomes a linked wire.Service, an HTTP request or response as the
// client wrote or expected it, and the value tree it stands for. Only tests import it.
package suite

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
)

// Case is one conformance case with its own service (cases of a suite redefine the same operation name).
type Case struct {
	Name   string // suite description / case index
	Svc    *wire.Service
	Op     *wire.Operation
	Params map[string]any // input cases: the client's parameters
	Result map[string]any // output cases: what the client must read

	Serialized struct {
		Method  string            `json:"method"`
		URI     string            `json:"uri"`
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers"`
	}
	Response struct {
		StatusCode int               `json:"status_code"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
}

type rawSuite struct {
	Description string                     `json:"description"`
	Metadata    json.RawMessage            `json:"metadata"`
	Shapes      map[string]json.RawMessage `json:"shapes"`
	Cases       []struct {
		Given      map[string]any  `json:"given"`
		Params     map[string]any  `json:"params"`
		Result     map[string]any  `json:"result"`
		Serialized json.RawMessage `json:"serialized"`
		Response   json.RawMessage `json:"response"`
	} `json:"cases"`
}

// Path is the path of a file under aws-sdk-go's models/protocol_tests in the module cache.
func Path(t testing.TB, name string) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go").Output()
	if err != nil {
		t.Fatalf("locating aws-sdk-go: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "models", "protocol_tests", name)
}

// Load reads the cases of one conformance file ("input/rest-json.json").
func Load(t testing.TB, name string) []*Case {
	data, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var suites []rawSuite
	if err := json.Unmarshal(data, &suites); err != nil {
		t.Fatal(err)
	}
	var cases []*Case
	for si, s := range suites {
		for ci, rc := range s.Cases {
			c := &Case{Name: fmt.Sprintf("%02d %s/%d", si, s.Description, ci), Params: rc.Params, Result: rc.Result}
			if len(rc.Serialized) > 0 {
				if err := json.Unmarshal(rc.Serialized, &c.Serialized); err != nil {
					t.Fatal(err)
				}
			}
			if len(rc.Response) > 0 {
				if err := json.Unmarshal(rc.Response, &c.Response); err != nil {
					t.Fatal(err)
				}
			}
			c.Svc, c.Op = build(t, s.Metadata, s.Shapes, rc.Given)
			cases = append(cases, c)
		}
	}
	return cases
}

// build links the suite's shapes and the case's operation. The suites write a few traits where botocore's
// models never do, so they are moved where the wire model reads them: a payload on the operation's input
// reference goes to the input shape, and a location on a shape goes to the references of that shape; the
// legacy "character" type is a string.
func build(t testing.TB, metadata json.RawMessage, rawShapes map[string]json.RawMessage, given map[string]any) (*wire.Service, *wire.Operation) {
	shapes := map[string]map[string]any{}
	for n, raw := range rawShapes {
		var sh map[string]any
		if err := json.Unmarshal(raw, &sh); err != nil {
			t.Fatal(err)
		}
		if sh["type"] == "character" {
			sh["type"] = "string"
		}
		shapes[n] = sh
	}
	for _, sh := range shapes {
		members, _ := sh["members"].(map[string]any)
		for _, raw := range members {
			ref := raw.(map[string]any)
			target := shapes[ref["shape"].(string)]
			if loc, ok := target["location"]; ok && ref["location"] == nil {
				ref["location"] = loc
				if ln, ok := target["locationName"]; ok && ref["locationName"] == nil {
					ref["locationName"] = ln
				}
			}
		}
	}
	if in, ok := given["input"].(map[string]any); ok {
		if p, ok := in["payload"]; ok {
			shapes[in["shape"].(string)]["payload"] = p
		}
	}
	name := given["name"].(string)
	ops, _ := json.Marshal(map[string]any{name: given})
	sh, _ := json.Marshal(shapes)
	spec, err := wire.ParseBotocoreParts(metadata, ops, sh)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := wire.Build("conformance", spec)
	if err != nil {
		t.Fatal(err)
	}
	return svc, svc.Operations[name]
}

// Request is the HTTP request the client serialized for an input case.
func (c *Case) Request() *http.Request {
	method := c.Serialized.Method
	if method == "" {
		method = c.Op.HTTPMethod
	}
	r := httptest.NewRequest(method, "http://service.region.amazonaws.com"+c.Serialized.URI, strings.NewReader(c.Serialized.Body))
	for k, v := range c.Serialized.Headers {
		r.Header.Set(k, v)
	}
	return r
}

// Tree turns a case's JSON parameters or result into the value tree the codecs speak: integers are int64,
// timestamps (epoch seconds in the cases) time.Time, blobs (plain strings in the cases) []byte, and the
// objects of jsonvalue members their JSON text. Null members are absent.
func Tree(sh *wire.Shape, raw map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range sh.Members {
		if v, ok := raw[m.Name]; ok && v != nil {
			out[m.Name] = value(m, v)
		}
	}
	return out
}

func value(m *wire.Member, v any) any {
	if m.JSONValue {
		data, _ := json.Marshal(v)
		return string(data)
	}
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		return Tree(sh, v.(map[string]any))
	case wire.TypeList:
		var out []any
		for _, e := range v.([]any) {
			out = append(out, value(sh.Member, e))
		}
		return out
	case wire.TypeMap:
		out := map[string]any{}
		for k, e := range v.(map[string]any) {
			out[k] = value(sh.Value, e)
		}
		return out
	case wire.TypeInteger, wire.TypeLong:
		return int64(v.(float64))
	case wire.TypeTimestamp:
		f := v.(float64)
		sec := math.Floor(f)
		return time.Unix(int64(sec), int64(math.Round((f-sec)*1e3))*int64(time.Millisecond)).UTC()
	case wire.TypeBlob:
		return []byte(v.(string))
	}
	return v
}

// Diff compares a decoded tree with the expected one, shape by shape, and says where they differ ("" when
// they agree). Streams in got are read; jsonvalue strings are compared as JSON.
func Diff(sh *wire.Shape, want, got map[string]any) string {
	return diffStruct("", sh, want, got)
}

func diffStruct(path string, sh *wire.Shape, want, got map[string]any) string {
	for _, m := range sh.Members {
		w, wok := want[m.Name]
		g, gok := got[m.Name]
		p := path + "." + m.Name
		switch {
		case !wok && !gok:
		case wok && !gok:
			return fmt.Sprintf("%s: missing, want %#v", p, w)
		case !wok && gok:
			return fmt.Sprintf("%s: unexpected %#v", p, g)
		default:
			if d := diffValue(p, m, w, g); d != "" {
				return d
			}
		}
	}
	var extra []string
	for k := range got {
		if _, _, ok := sh.MemberByName(k); !ok {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Sprintf("%s: keys not in %s: %v", path, sh.Name, extra)
	}
	return ""
}

func diffValue(p string, m *wire.Member, w, g any) string {
	sh := m.Shape
	if m.JSONValue {
		var wj, gj any
		json.Unmarshal([]byte(w.(string)), &wj)
		gs, _ := g.(string)
		if err := json.Unmarshal([]byte(gs), &gj); err != nil || !reflect.DeepEqual(wj, gj) {
			return fmt.Sprintf("%s: JSON %q, want %q", p, gs, w)
		}
		return ""
	}
	switch sh.Type {
	case wire.TypeStructure:
		gm, ok := g.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %T, want a structure", p, g)
		}
		return diffStruct(p, sh, w.(map[string]any), gm)
	case wire.TypeList:
		wl, gl := w.([]any), g
		gs, ok := gl.([]any)
		if !ok || len(gs) != len(wl) {
			return fmt.Sprintf("%s: %#v, want %#v", p, g, w)
		}
		for i := range wl {
			if d := diffValue(fmt.Sprintf("%s[%d]", p, i), sh.Member, wl[i], gs[i]); d != "" {
				return d
			}
		}
		return ""
	case wire.TypeMap:
		wm := w.(map[string]any)
		gm, ok := g.(map[string]any)
		if !ok || len(gm) != len(wm) {
			return fmt.Sprintf("%s: %#v, want %#v", p, g, w)
		}
		for k := range wm {
			if d := diffValue(fmt.Sprintf("%s[%q]", p, k), sh.Value, wm[k], gm[k]); d != "" {
				return d
			}
		}
		return ""
	case wire.TypeTimestamp:
		gt, ok := g.(time.Time)
		if !ok || !gt.Equal(w.(time.Time)) {
			return fmt.Sprintf("%s: %v, want %v", p, g, w)
		}
		return ""
	case wire.TypeBlob:
		if rc, ok := g.(io.ReadCloser); ok {
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return fmt.Sprintf("%s: reading stream: %v", p, err)
			}
			g = data
		}
	}
	if !reflect.DeepEqual(w, g) {
		return fmt.Sprintf("%s: %#v (%T), want %#v (%T)", p, g, g, w, w)
	}
	return ""
}
