package httpbind

import (
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
)

// Timestamp formats as the models spell them.
const (
	TimestampISO8601 = "iso8601"
	TimestampRFC822  = "rfc822" // HTTP date
	TimestampUnix    = "unixTimestamp"
)

// iso8601 always carries milliseconds, as S3 writes "2026-01-02T03:04:05.000Z"; every SDK parses it.
const iso8601 = "2006-01-02T15:04:05.000Z"

// FormatTimestamp writes t in a model timestamp format; an unknown format is ISO 8601.
func FormatTimestamp(t time.Time, format string) string {
	t = t.UTC()
	switch format {
	case TimestampUnix:
		if ms := t.Nanosecond() / int(time.Millisecond); ms != 0 {
			return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
		}
		return strconv.FormatInt(t.Unix(), 10)
	case TimestampRFC822:
		return t.Format(http.TimeFormat)
	default:
		return t.Format(iso8601)
	}
}

// Timestamps outside years 0001-9999 cannot be written back in ISO 8601, so they are refused on input.
const (
	minEpoch = -62135596800
	maxEpoch = 253402300799
)

// ParseTimestamp reads a timestamp in any of the three model formats whatever the model says, because clients
// differ (aws-sdk-go v1 and botocore disagree on some header defaults): epoch seconds with an optional
// fraction, ISO 8601 with or without fractional seconds and zone, or an HTTP date.
func ParseTimestamp(text string) (time.Time, error) {
	s := strings.TrimSpace(text)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < minEpoch || f > maxEpoch {
			return time.Time{}, fmt.Errorf("timestamp out of range: %q", text)
		}
		sec := math.Floor(f)
		// Rounding to microseconds undoes binary fractions: 1.123 must not come back as 1.122999906.
		usec := math.Round((f - sec) * 1e6)
		return time.Unix(int64(sec), int64(usec)*int64(time.Microsecond)).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC1123Z, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("not a timestamp: %q", text)
}

// FormatFloat writes f the way the SDKs read floats: shortest decimal, and NaN, Infinity, -Infinity for the
// special values. float shapes are printed at 32-bit precision so 1.2 stays "1.2".
func FormatFloat(f float64, typ string) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	bits := 64
	if typ == wire.TypeFloat {
		bits = 32
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.FormatFloat(f, format, -1, bits)
}

// ParseScalar reads the text form of a scalar of m's shape, as it appears in a URI label, a query parameter, a
// header or an XML element. Blobs are base64 and timestamps are read by ParseTimestamp.
func ParseScalar(m *wire.Member, text string) (any, error) {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeInteger, wire.TypeLong:
		bits := 64
		if sh.Type == wire.TypeInteger {
			bits = 32
		}
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, bits)
		if err != nil {
			return nil, fmt.Errorf("not an %s: %q", sh.Type, text)
		}
		return n, nil
	case wire.TypeFloat, wire.TypeDouble:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("not a number: %q", text)
		}
		return f, nil
	case wire.TypeBoolean:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("not a boolean: %q", text)
	case wire.TypeTimestamp:
		t, err := ParseTimestamp(text)
		if err != nil {
			return nil, err
		}
		return t, nil
	case wire.TypeBlob:
		return DecodeBase64(text)
	case wire.TypeStructure, wire.TypeList, wire.TypeMap, wire.TypeDocument:
		return nil, fmt.Errorf("%s %s is not a scalar", sh.Type, sh.Name)
	default: // string, and botocore's legacy "character"
		return text, nil
	}
}

// DecodeBase64 reads standard base64, padded or not.
func DecodeBase64(text string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "=")); err != nil {
			return nil, fmt.Errorf("not base64: %q", text)
		}
	}
	return b, nil
}

// FormatScalar writes v, a scalar tree value of m's shape, as text; timestamps without a format trait use
// tsDefault (which depends on where the value goes: ISO 8601 in bodies and query strings, HTTP date in headers).
func FormatScalar(m *wire.Member, v any, tsDefault string) (string, error) {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeInteger, wire.TypeLong:
		n, ok := AsInt(v)
		if !ok {
			return "", fmt.Errorf("%s %s wants int64, got %T", sh.Type, sh.Name, v)
		}
		return strconv.FormatInt(n, 10), nil
	case wire.TypeFloat, wire.TypeDouble:
		f, ok := AsFloat(v)
		if !ok {
			return "", fmt.Errorf("%s %s wants float64, got %T", sh.Type, sh.Name, v)
		}
		return FormatFloat(f, sh.Type), nil
	case wire.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return "", fmt.Errorf("boolean %s wants bool, got %T", sh.Name, v)
		}
		return strconv.FormatBool(b), nil
	case wire.TypeTimestamp:
		t, ok := v.(time.Time)
		if !ok {
			return "", fmt.Errorf("timestamp %s wants time.Time, got %T", sh.Name, v)
		}
		return FormatTimestamp(t, m.TimestampFormatOr(tsDefault)), nil
	case wire.TypeBlob:
		data, err := BlobBytes(v)
		if err != nil {
			return "", fmt.Errorf("blob %s: %w", sh.Name, err)
		}
		return base64.StdEncoding.EncodeToString(data), nil
	case wire.TypeStructure, wire.TypeList, wire.TypeMap, wire.TypeDocument:
		return "", fmt.Errorf("%s %s is not a scalar", sh.Type, sh.Name)
	default:
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s %s wants string, got %T", sh.Type, sh.Name, v)
		}
		return s, nil
	}
}

// BlobBytes returns the bytes of a blob tree value; a reader is read to its end and closed.
func BlobBytes(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case string:
		return []byte(b), nil
	case io.Reader:
		data, err := io.ReadAll(b)
		if c, ok := b.(io.Closer); ok {
			c.Close()
		}
		return data, err
	}
	return nil, fmt.Errorf("wants []byte or io.ReadCloser, got %T", v)
}

// AsInt accepts the tree's int64 and the other integer types a hand-built tree might carry.
func AsInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	}
	return 0, false
}

// AsFloat accepts the tree's float64 and the other number types a hand-built tree might carry.
func AsFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}
