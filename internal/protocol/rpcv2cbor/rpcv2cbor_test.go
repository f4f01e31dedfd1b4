package rpcv2cbor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	cwapi "github.com/overcast-cloud/overcast/api/cloudwatch"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

func decodeBody(t testing.TB, op *wire.Operation, body []byte) (map[string]any, error) {
	r := httptest.NewRequest(http.MethodPost, "/service/GraniteServiceVersion20100801/operation/"+op.Name, bytes.NewReader(body))
	r.Header.Set(ProtocolHeader, ProtocolName)
	r.Header.Set("Content-Type", ContentType)
	return Codec{}.DecodeRequest(op, r)
}

// outputAsInput reads an answer back with the decoder, by pretending the output shape is an input.
func outputAsInput(op *wire.Operation) *wire.Operation {
	return &wire.Operation{Service: op.Service, Name: op.Name, Input: op.Output}
}

// TestRoundTripGetMetricData encodes a GetMetricData answer with timestamps whole and fractional, doubles that
// need every bit, and nested lists, then decodes it again: the tree must come back unchanged.
func TestRoundTripGetMetricData(t *testing.T) {
	op := cwapi.Model().Operations["GetMetricData"]
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	out := map[string]any{
		"MetricDataResults": []any{
			map[string]any{
				"Id": "m1", "Label": "Latency p99", "StatusCode": "PartialData",
				"Timestamps": []any{t0, t0.Add(61*time.Second + 250*time.Millisecond), time.Unix(-86400, 0).UTC()},
				"Values":     []any{0.1, -0.0, math.SmallestNonzeroFloat64, math.MaxFloat64, 1e15 + 0.5},
				"Messages":   []any{map[string]any{"Code": "ArithmeticError", "Value": "div by 0"}},
			},
			map[string]any{"Id": "m2", "Timestamps": []any{}, "Values": []any{}},
		},
		"NextToken": "tok",
		"Messages":  []any{},
	}
	rec := httptest.NewRecorder()
	if err := (Codec{}).EncodeResponse(rec, op, out, "rid"); err != nil {
		t.Fatal(err)
	}
	if h := rec.Header(); h.Get("Content-Type") != ContentType || h.Get(ProtocolHeader) != ProtocolName || h.Get("x-amzn-RequestId") != "rid" {
		t.Errorf("headers %v", h)
	}
	// Timestamps are tag 1 with an integer when whole.
	if !bytes.Contains(rec.Body.Bytes(), []byte{0xc1, 0x1a, 0x67, 0xc2, 0xf6, 0xc0}) {
		t.Errorf("whole-second timestamp is not tag 1 + uint32 in % x", rec.Body.Bytes())
	}
	got, err := decodeBody(t, outputAsInput(op), rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, out) {
		t.Errorf("round trip\n got %#v\nwant %#v", got, out)
	}
}

// TestDecodePutMetricData reads a PutMetricData body written the way smithy-go writes it: indefinite-length
// maps and arrays, timestamps as tag 1 doubles.
func TestDecodePutMetricData(t *testing.T) {
	op := cwapi.Model().Operations["PutMetricData"]
	var b []byte
	str := func(s string) {
		b = append(b, 0x60|byte(len(s)))
		b = append(b, s...)
	}
	f64 := func(f float64) {
		b = append(b, 0xfb) // always a double, as smithy-go writes them
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(f))
	}
	b = append(b, 0xbf) // indefinite map: input
	str("Namespace")
	str("App")
	str("MetricData")
	b = append(b, 0x9f, 0xbf) // indefinite list of one indefinite map
	str("MetricName")
	str("Latency")
	str("Timestamp")
	b = append(b, 0xc1)
	f64(1740830400.123)
	str("Values")
	b = append(b, 0x9f)
	f64(1.5)
	f64(2.5)
	b = append(b, 0xff)
	str("StorageResolution")
	b = append(b, 0x01)
	str("Dimensions")
	b = append(b, 0x81, 0xa2) // definite list of one definite map
	str("Name")
	str("Route")
	str("Value")
	b = append(b, 0x7f, 0x62, '/', 'a', 0x62, 'p', 'i', 0xff) // indefinite text string "/api"
	b = append(b, 0xff, 0xff)                                 // end datum, end list
	str("EntityMetricData")
	b = append(b, 0x9f, 0xbf)
	str("Entity")
	b = append(b, 0xbf)
	str("KeyAttributes")
	b = append(b, 0xbf)
	str("Type")
	str("Service")
	b = append(b, 0xff, 0xff, 0xff, 0xff)
	str("Unknown")
	b = append(b, 0x82, 0xf6, 0x40)
	b = append(b, 0xff)

	got, err := decodeBody(t, op, b)
	if err != nil {
		t.Fatalf("decode % x: %v", b, err)
	}
	want := map[string]any{
		"Namespace": "App",
		"MetricData": []any{map[string]any{
			"MetricName":        "Latency",
			"Timestamp":         time.Date(2025, 3, 1, 12, 0, 0, 123_000_000, time.UTC),
			"Values":            []any{1.5, 2.5},
			"StorageResolution": int64(1),
			"Dimensions":        []any{map[string]any{"Name": "Route", "Value": "/api"}},
		}},
		"EntityMetricData": []any{map[string]any{"Entity": map[string]any{"KeyAttributes": map[string]any{"Type": "Service"}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}

	// Typed, as a service would see it.
	var in cwapi.PutMetricDataInput
	if err := wire.ToTyped(op.Input.Shape, got, &in); err != nil {
		t.Fatal(err)
	}
	if in.MetricData[0].Values[1] != 2.5 || *in.MetricData[0].StorageResolution != 1 {
		t.Errorf("typed %+v", in.MetricData[0])
	}
}

func TestDecodeEmptyAndRejects(t *testing.T) {
	op := cwapi.Model().Operations["ListMetrics"]
	for _, body := range [][]byte{nil, {0xa0}, {0xbf, 0xff}, {0xf6}} {
		got, err := decodeBody(t, op, body)
		if err != nil || len(got) != 0 {
			t.Errorf("body % x: %v %v", body, got, err)
		}
	}
	mk := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, body := range map[string][]byte{
		"truncated":        {0xa1, 0x69},
		"not a map":        mk([]any{1}),
		"trailing":         append(mk(map[string]any{}), 0x00),
		"non-string key":   mk(map[int]any{1: "x"}),
		"string as int":    mk(map[string]any{"Namespace": 1}),
		"list as map":      mk(map[string]any{"Dimensions": map[string]any{}}),
		"bad member":       mk(map[string]any{"Dimensions": []any{map[string]any{"Name": true}}}),
		"unclosed indef":   {0xbf, 0x61, 'a', 0x01},
		"invalid utf8":     {0xa1, 0x61, 0xff, 0x01},
		"reserved minor":   {0xa1, 0x61, 'a', 0x1c},
		"huge byte string": {0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		_, err := decodeBody(t, op, body)
		var de *protocol.DecodeError
		if !errors.As(err, &de) || de.Code != SerializationException {
			t.Errorf("%s: error %v, want a SerializationException", name, err)
		}
	}
	gmd := cwapi.Model().Operations["GetMetricData"]
	for name, body := range map[string][]byte{
		"int out of range": mk(map[string]any{"MaxDatapoints": int64(math.MaxInt32) + 1}),
		"time as string":   mk(map[string]any{"StartTime": "yesterday"}),
		"uint64 overflow":  {0xa1, 0x6d, 'M', 'a', 'x', 'D', 'a', 't', 'a', 'p', 'o', 'i', 'n', 't', 's', 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, err := decodeBody(t, gmd, body); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestNoOutputAndErrors(t *testing.T) {
	svc := cwapi.Model()
	rec := httptest.NewRecorder()
	if err := (Codec{}).EncodeResponse(rec, svc.Operations["PutMetricData"], nil, "rid"); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" || rec.Header().Get(ProtocolHeader) != ProtocolName {
		t.Errorf("no output: %d %v % x", rec.Code, rec.Header(), rec.Body.Bytes())
	}
	rec = httptest.NewRecorder()
	if err := (Codec{}).EncodeResponse(rec, svc.Operations["ListMetrics"], nil, "rid"); err != nil || !bytes.Equal(rec.Body.Bytes(), []byte{0xa0}) {
		t.Errorf("empty output: % x %v", rec.Body.Bytes(), err)
	}

	rec = httptest.NewRecorder()
	Codec{}.EncodeError(rec, svc, &protocol.Error{Code: "InternalServiceError", Message: "boom", Status: 500, Type: "InternalServiceFault",
		Shape: svc.Shapes["InternalServiceFault"]}, "rid")
	var body map[string]any
	if err := cbor.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"__type": "InternalServiceFault", "Message": "boom", "message": "boom"}
	if rec.Code != 500 || !reflect.DeepEqual(body, want) || rec.Header().Get("x-amzn-query-error") != "InternalServiceError;Receiver" ||
		rec.Header().Get("Content-Type") != ContentType {
		t.Errorf("error answer %d %v %v", rec.Code, rec.Header(), body)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	op := cwapi.Model().Operations["PutMetricData"]
	seeds := []any{
		map[string]any{"Namespace": "App", "MetricData": []any{map[string]any{"MetricName": "m", "Value": 1.5,
			"Timestamp": cbor.Tag{Number: 1, Content: 1.5}, "Dimensions": []any{map[string]any{"Name": "a", "Value": "b"}},
			"Values": []any{1.0, 2}, "StorageResolution": 60}},
			"EntityMetricData": []any{map[string]any{"Entity": map[string]any{"KeyAttributes": map[string]any{"a": "b"}}}}},
		map[string]any{"MetricData": []any{map[string]any{"Timestamp": cbor.Tag{Number: 1, Content: uint64(1 << 63)}}}},
		map[string]any{"MetricData": []any{nil, map[string]any{"Timestamp": cbor.Tag{Number: 0, Content: "2024-01-01T00:00:00Z"}}}},
	}
	for _, s := range seeds {
		b, err := cbor.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xbf, 0x69, 'N', 'a', 'm', 'e', 's', 'p', 'a', 'c', 'e', 0x7f, 0x61, 'x', 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		tree, err := decodeBody(t, op, body)
		if err != nil {
			var de *protocol.DecodeError
			if !errors.As(err, &de) || de.Code != SerializationException {
				t.Fatalf("error %v is not a SerializationException", err)
			}
			return
		}
		// Whatever decodes obeys the shapes, so the service's typed input can be filled from it.
		var in cwapi.PutMetricDataInput
		if err := wire.ToTyped(op.Input.Shape, tree, &in); err != nil {
			t.Fatalf("decoded tree does not fit the typed input: %v", err)
		}
	})
}
