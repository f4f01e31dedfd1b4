package awsjson

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

// kitchen is a service with one operation whose input and output hold every kind of member.
func kitchen(t testing.TB) *wire.Operation {
	t.Helper()
	spec, err := wire.ParseBotocoreParts(
		[]byte(`{"protocol":"json","jsonVersion":"1.1","targetPrefix":"Kitchen"}`),
		[]byte(`{"Cook":{"name":"Cook","input":{"shape":"Dish"},"output":{"shape":"Dish"}}}`),
		[]byte(`{
			"Dish":{"type":"structure","members":{
				"Name":{"shape":"S"},"Count":{"shape":"I"},"Big":{"shape":"L"},"Ratio":{"shape":"F"},"Exact":{"shape":"D"},
				"Ok":{"shape":"B"},"At":{"shape":"T"},"AtISO":{"shape":"T","timestampFormat":"iso8601"},"Raw":{"shape":"Blob"},
				"Doc":{"shape":"Doc"},"Tags":{"shape":"Tags"},"Parts":{"shape":"Parts"},"Renamed":{"shape":"S","locationName":"wireName"}}},
			"S":{"type":"string"},"I":{"type":"integer"},"L":{"type":"long"},"F":{"type":"float"},"D":{"type":"double"},
			"B":{"type":"boolean"},"T":{"type":"timestamp"},"Blob":{"type":"blob"},"Doc":{"type":"structure","members":{},"document":true},
			"Tags":{"type":"map","key":{"shape":"S"},"value":{"shape":"S"}},
			"Parts":{"type":"list","member":{"shape":"Dish"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := wire.Build("kitchen", spec)
	if err != nil {
		t.Fatal(err)
	}
	return svc.Operations["Cook"]
}

func decode(t testing.TB, op *wire.Operation, body string) (map[string]any, error) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	return Codec{}.DecodeRequest(op, r)
}

func TestDecodeValues(t *testing.T) {
	op := kitchen(t)
	got, err := decode(t, op, `{
		"Name":"a\u00e9<b>","Count":-2147483648,"Big":9223372036854775807,"Ratio":"NaN","Exact":0.1,"Ok":false,
		"At":1715938212.123456,"AtISO":"2024-05-17T09:30:12.5Z","Raw":"aGk=","Doc":{"n":1,"l":[true,null,"s"]},
		"Tags":{"k":"v"},"Parts":[{"Count":1.0e0},{"Name":null}],"wireName":"w","Unknown":{"deep":[1]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if r := got["Ratio"].(float64); !math.IsNaN(r) {
		t.Errorf("Ratio %v", r)
	}
	delete(got, "Ratio")
	want := map[string]any{
		"Name": "a\u00e9<b>", "Count": int64(math.MinInt32), "Big": int64(math.MaxInt64), "Exact": 0.1, "Ok": false,
		"At":      time.Unix(1715938212, 123456000).UTC(),
		"AtISO":   time.Date(2024, 5, 17, 9, 30, 12, 500_000_000, time.UTC),
		"Raw":     []byte("hi"),
		"Doc":     map[string]any{"n": 1.0, "l": []any{true, nil, "s"}},
		"Tags":    map[string]any{"k": "v"},
		"Parts":   []any{map[string]any{"Count": int64(1)}, map[string]any{}},
		"Renamed": "w",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestDecodeEmptyAndCompressed(t *testing.T) {
	op := kitchen(t)
	for _, body := range []string{"", "  \n", "{}", "null"} {
		got, err := decode(t, op, body)
		if err != nil || len(got) != 0 {
			t.Errorf("body %q: %v %v", body, got, err)
		}
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(`{"Name":"zipped"}`))
	zw.Close()
	r := httptest.NewRequest(http.MethodPost, "/", &z)
	r.Header.Set("Content-Encoding", "gzip")
	got, err := Codec{}.DecodeRequest(op, r)
	if err != nil || got["Name"] != "zipped" {
		t.Errorf("gzip body: %v %v", got, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	op := kitchen(t)
	for _, body := range []string{
		`{"Name":`, `[1]`, `"x"`, `{} {}`, `{"Name":1}`, `{"Count":"1"}`, `{"Count":2147483648}`, `{"Count":1.5}`,
		`{"Big":9223372036854775808}`, `{"Ok":"true"}`, `{"Raw":"***"}`, `{"At":"yesterday"}`, `{"At":true}`,
		`{"Tags":[]}`, `{"Tags":{"k":1}}`, `{"Parts":{}}`, `{"Parts":[{"Ok":1}]}`, `{"Ratio":"fast"}`,
	} {
		_, err := decode(t, op, body)
		var de *protocol.DecodeError
		if !errors.As(err, &de) || de.Code != SerializationException {
			t.Errorf("body %s: error %v, want a SerializationException", body, err)
		}
	}
	_, err := decode(t, op, `{"Parts":[{"Ok":1}]}`)
	if !strings.Contains(err.Error(), "Parts[0].Ok") {
		t.Errorf("error %q does not say where", err)
	}
}

func TestEncodeValues(t *testing.T) {
	op := kitchen(t)
	rec := httptest.NewRecorder()
	err := Codec{}.EncodeResponse(rec, op, map[string]any{
		"Name": "<a&b>", "Count": int64(7), "Big": int64(math.MaxInt64), "Ratio": float64(float32(1.2)), "Exact": 0.1,
		"At":    time.Date(2024, 5, 17, 9, 30, 12, 120_000_000, time.UTC),
		"AtISO": time.Date(2024, 5, 17, 9, 30, 12, 0, time.UTC),
		"Raw":   []byte("hi"), "Doc": map[string]any{"a": []any{1.5, nil}}, "Tags": map[string]any{},
		"Parts":   []any{map[string]any{"Exact": 3.0, "At": time.Unix(-1, 500_000_000)}, map[string]any{"Exact": math.Inf(-1)}},
		"Renamed": "w", "NotAMember": "dropped",
	}, "rid")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"At":1715938212.12,"AtISO":"2024-05-17T09:30:12Z","Big":9223372036854775807,"Count":7,"Doc":{"a":[1.5,null]},` +
		`"Exact":0.1,"Name":"<a&b>","Parts":[{"At":-0.5,"Exact":3.0},{"Exact":"-Infinity"}],"Ratio":1.2,"Raw":"aGk=","Tags":{},"wireName":"w"}`
	if got := rec.Body.String(); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if rec.Header().Get("Content-Type") != "application/x-amz-json-1.1" || rec.Header().Get("x-amzn-RequestId") != "rid" {
		t.Errorf("headers %v", rec.Header())
	}

	rec = httptest.NewRecorder()
	if err := (Codec{}).EncodeResponse(rec, &wire.Operation{Name: "Nothing", Service: op.Service}, nil, "rid"); err != nil || rec.Body.String() != "{}" {
		t.Errorf("no output: %q %v", rec.Body, err)
	}
	rec = httptest.NewRecorder()
	if err := (Codec{}).EncodeResponse(rec, op, map[string]any{"Count": "seven"}, "rid"); err == nil {
		t.Error("a tree of the wrong kind was encoded")
	}
}

func TestEncodeErrorUnmodeled(t *testing.T) {
	op := kitchen(t)
	rec := httptest.NewRecorder()
	Codec{}.EncodeError(rec, op.Service, &protocol.Error{Code: "AccessDeniedException", Message: "no", Sender: true}, "rid")
	if rec.Code != 400 || rec.Body.String() != `{"__type":"AccessDeniedException","message":"no"}` ||
		rec.Header().Get("X-Amzn-ErrorType") != "AccessDeniedException" || rec.Header().Get("x-amzn-query-error") != "" {
		t.Errorf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	op := kitchen(f)
	for _, seed := range []string{
		`{"Name":"a","Count":1,"Big":2,"Ratio":1.5,"Ok":true,"At":1.5,"AtISO":"2024-05-17T09:30:12Z","Raw":"aGk=","Doc":{"a":[1]},"Tags":{"k":"v"},"Parts":[{"Parts":[{}]}]}`,
		`{"At":"Sun, 25 Jan 2015 08:00:00 GMT"}`, `{"At":-1e300}`, `{"Count":1e400}`, ``, `[`, `{"Parts":[null]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		tree, err := Codec{}.DecodeRequest(op, r)
		if err != nil {
			var de *protocol.DecodeError
			if !errors.As(err, &de) || de.Code != SerializationException {
				t.Fatalf("error %v is not a SerializationException", err)
			}
			return
		}
		// Whatever decodes must encode again: the tree obeys the shapes.
		if err := (Codec{}).EncodeResponse(httptest.NewRecorder(), op, tree, "rid"); err != nil {
			t.Fatalf("decoded tree does not encode: %v", err)
		}
	})
}
