package httpbind

import (
	"testing"
	"time"
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
