package httpbind

import (
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestTimestampForms(t *testing.T) {
	ts := mustTime("2026-01-02T03:04:05.120Z")
	for format, want := range map[string]string{
		TimestampISO8601: "2026-01-02T03:04:05.120Z",
		TimestampRFC822:  "Fri, 02 Jan 2026 03:04:05 GMT",
		TimestampUnix:    "1767323045.12",
	} {
		if got := FormatTimestamp(ts, format); got != want {
			t.Errorf("%s: %q, want %q", format, got, want)
		}
	}
	for _, s := range []string{"2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000Z", "Fri, 02 Jan 2026 03:04:05 GMT", "1767323045", "2026-01-02T03:04:05+00:00"} {
		got, err := ParseTimestamp(s)
		if err != nil || !got.Equal(mustTime("2026-01-02T03:04:05Z")) {
			t.Errorf("ParseTimestamp(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseTimestamp("yesterday"); err == nil {
		t.Error("parsed a non-timestamp")
	}
}

// TestRefusalsQuoteTheText pins the wording the REST protocols answer a bad label, header or query value with.
func TestRefusalsQuoteTheText(t *testing.T) {
	for _, tc := range []struct{ typ, text, want string }{
		{wire.TypeInteger, "ten", `not an integer: "ten"`},
		{wire.TypeDouble, "1,5", `not a number: "1,5"`},
		{wire.TypeBoolean, "yes", `not a boolean: "yes"`},
		{wire.TypeTimestamp, "yesterday", `not a timestamp: "yesterday"`},
		{wire.TypeTimestamp, "1e30", `timestamp out of range: "1e30"`},
		{wire.TypeBlob, "!!", `not base64: "!!"`},
	} {
		m := &wire.Member{Name: "M", Shape: &wire.Shape{Name: "S", Type: tc.typ}}
		if _, err := ParseScalar(m, tc.text); err == nil || err.Error() != tc.want {
			t.Errorf("%s %q: %v, want %s", tc.typ, tc.text, err, tc.want)
		}
	}
}
