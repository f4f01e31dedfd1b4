package xmlenc

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
)

func TestEscapedTextReadsBackExactly(t *testing.T) {
	for _, s := range []string{"plain", `a<b>&"c"'d'`, "line\r\nbreak\ttab", "ünï€😀", ""} {
		w := NewWriter()
		w.Element("v", s)
		var got string
		if err := xml.Unmarshal(w.Bytes(), &got); err != nil {
			t.Fatalf("%q: %v in %s", s, err, w.Bytes())
		}
		if got != s {
			t.Errorf("wrote %q as %s, read back %q", s, w.Bytes(), got)
		}
		w.Release()
	}
}

func TestCharactersXMLCannotCarryBecomeReplacement(t *testing.T) {
	w := NewWriter()
	w.Element("v", "a\x00b\x1bc\xffd")
	if got, want := string(w.Bytes()), "<v>a\uFFFDb\uFFFDc\uFFFDd</v>"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var s string
	if err := xml.Unmarshal(w.Bytes(), &s); err != nil {
		t.Errorf("body does not parse: %v", err)
	}
}

func TestEmptyElements(t *testing.T) {
	w := NewWriter()
	outer := w.OpenNS("R", `urn:"x"`)
	inner := w.Open("list")
	w.Close("list", inner)
	w.Element("s", "")
	w.Close("R", outer)
	if got, want := string(w.Bytes()), `<R xmlns="urn:&quot;x&quot;"><list/><s/></R>`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestFloatForms(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		bits int
		want string
	}{
		{1.3, 64, "1.3"},
		{float64(float32(1.2)), 32, "1.2"},
		{100, 64, "100"},
		{-0.5, 64, "-0.5"},
		{1e21, 64, "1e+21"},
		{1e-7, 64, "1e-07"},
		{math.NaN(), 64, "NaN"},
		{math.Inf(1), 64, "Infinity"},
		{math.Inf(-1), 64, "-Infinity"},
	} {
		if got := string(AppendFloat(nil, tc.f, tc.bits)); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.f, got, tc.want)
		}
		back, err := ParseFloat(tc.want)
		if tc.bits == 32 {
			back = float64(float32(back))
		}
		if err != nil || (back != tc.f && !math.IsNaN(tc.f)) {
			t.Errorf("%s read back as %v, %v", tc.want, back, err)
		}
	}
}

func TestTimestampForms(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	ms := ts.Add(250 * time.Millisecond)
	for _, tc := range []struct {
		t      time.Time
		format string
		want   string
	}{
		{ts, TimestampISO8601, "2026-01-02T02:04:05Z"},
		{ms, TimestampISO8601, "2026-01-02T02:04:05.25Z"},
		{ts, TimestampUnix, "1767319445"},
		{ms, TimestampUnix, "1767319445.25"},
		{ts, TimestampRFC822, "Fri, 02 Jan 2026 02:04:05 GMT"},
	} {
		got := string(AppendTimestamp(nil, tc.t, tc.format))
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.format, got, tc.want)
		}
		back, err := ParseTimestamp(got)
		if err != nil || !back.Equal(tc.t) {
			t.Errorf("%s read back as %v, %v", got, back, err)
		}
	}
	for _, in := range []string{"2026-01-02T02:04:05.000Z", "2026-01-02T03:04:05+01:00", "2026-01-02T02:04:05", "1767319445.000"} {
		if got, err := ParseTimestamp(in); err != nil || !got.Equal(ts) {
			t.Errorf("%s: got %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"yesterday", "1e30", "NaN", "2026-13-02T00:00:00Z"} {
		if _, err := ParseTimestamp(in); err == nil {
			t.Errorf("%s parsed", in)
		}
	}
}

func TestParseScalarRefusesWrongTypes(t *testing.T) {
	for _, tc := range []struct{ typ, text string }{
		{wire.TypeInteger, "2147483648"}, {wire.TypeInteger, "1.0"}, {wire.TypeLong, "x"},
		{wire.TypeBoolean, "yes"}, {wire.TypeBoolean, "1"}, {wire.TypeDouble, "1,5"}, {wire.TypeBlob, "!!"},
	} {
		if v, err := ParseScalar(&wire.Shape{Name: "S", Type: tc.typ}, tc.text); err == nil {
			t.Errorf("%s %q parsed as %#v", tc.typ, tc.text, v)
		}
	}
	if v, err := ParseScalar(&wire.Shape{Type: wire.TypeLong}, "9223372036854775807"); err != nil || v != int64(math.MaxInt64) {
		t.Errorf("max long: %v, %v", v, err)
	}
}

func TestDecodeSkipsUnknownAndBoundsDepth(t *testing.T) {
	spec, err := wire.ParseBotocoreParts([]byte(`{"protocol":"query"}`), nil, []byte(`{
		"R": {"type":"structure","members":{"Name":{"shape":"S"},"Next":{"shape":"R"}}},
		"S": {"type":"string"}}`))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := wire.Build("t", spec)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(`<R><Junk><Name>no</Name></Junk><Name>a</Name><Next><Name>b</Name></Next></R>`))
	if err := FindElement(d, "R"); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMembers(d, svc.Shapes["R"])
	if err != nil {
		t.Fatal(err)
	}
	if got["Name"] != "a" || got["Next"].(map[string]any)["Name"] != "b" {
		t.Errorf("decoded %#v", got)
	}

	deep := strings.Repeat("<Next>", 200) + strings.Repeat("</Next>", 200)
	d = xml.NewDecoder(strings.NewReader("<R>" + deep + "</R>"))
	_ = FindElement(d, "R")
	if _, err := DecodeMembers(d, svc.Shapes["R"]); err == nil {
		t.Error("200 levels of nesting decoded")
	}
}
