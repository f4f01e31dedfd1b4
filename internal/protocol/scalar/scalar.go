// Package scalar owns the text forms of scalar values that AWS's text protocols share: integers, floats,
// booleans, timestamps and base64 blobs as they appear in XML elements, query parameters, URI labels and
// headers, and the tolerant reading of the number types a value tree may carry (see api/wire/tree.go).
//
// It knows nothing about where the text goes (element, header, form field) nor how a protocol phrases a
// refusal: callers wrap or restate a *SyntaxError their own way.
package scalar

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

// ISO 8601 layouts. AWS's query protocols drop zero milliseconds ("2026-01-02T03:04:05Z", as EC2 and IAM
// write it); its REST protocols always write them ("2026-01-02T03:04:05.000Z", as S3 does). Every SDK reads
// both, and each codec keeps the form its service writes.
const (
	ISO8601       = "2006-01-02T15:04:05.999Z07:00"
	ISO8601Millis = "2006-01-02T15:04:05.000Z"
)

// SyntaxError is text that does not spell a value of the scalar type asked for.
type SyntaxError struct {
	Type       string // the shape type: wire.TypeInteger, wire.TypeBoolean, ...
	Text       string // the text as received
	OutOfRange bool   // a timestamp that is well formed but outside years 1-9999
}

// Error says what the text must be without quoting it, so that a caller can quote it where its protocol does.
func (e *SyntaxError) Error() string {
	switch e.Type {
	case wire.TypeInteger:
		return "must be a 32-bit integer"
	case wire.TypeLong:
		return "must be a 64-bit integer"
	case wire.TypeFloat, wire.TypeDouble:
		return "must be a number"
	case wire.TypeBoolean:
		return "must be true or false"
	case wire.TypeTimestamp:
		if e.OutOfRange {
			return "must be a timestamp between years 1 and 9999"
		}
		return "must be an ISO 8601 timestamp"
	case wire.TypeBlob:
		return "must be base64"
	}
	return "must be a " + e.Type
}

// Parse reads the text form of a scalar of sh's type. It is lenient where clients differ (timestamps in any of
// the three model formats, unpadded base64) and strict where a wrong value would silently change meaning
// (numbers, booleans). A text that is not of the type is refused with a *SyntaxError.
func Parse(sh *wire.Shape, text string) (any, error) {
	switch sh.Type {
	case wire.TypeInteger, wire.TypeLong:
		bits := 64
		if sh.Type == wire.TypeInteger {
			bits = 32
		}
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, bits)
		if err != nil {
			return nil, &SyntaxError{Type: sh.Type, Text: text}
		}
		return n, nil
	case wire.TypeFloat, wire.TypeDouble:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, &SyntaxError{Type: sh.Type, Text: text}
		}
		return f, nil
	case wire.TypeBoolean:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, &SyntaxError{Type: sh.Type, Text: text}
	case wire.TypeTimestamp:
		t, err := ParseTimestamp(text)
		if err != nil {
			return nil, err
		}
		return t, nil
	case wire.TypeBlob:
		b, err := DecodeBase64(text)
		if err != nil {
			return nil, err
		}
		return b, nil
	case wire.TypeStructure, wire.TypeList, wire.TypeMap, wire.TypeDocument:
		return nil, fmt.Errorf("%s %s is not a scalar", sh.Type, sh.Name)
	default: // string, and botocore's legacy "character"
		return text, nil
	}
}

// ParseFloat reads a decimal float, including the NaN, Infinity and -Infinity spellings of the SDKs.
func ParseFloat(text string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return 0, &SyntaxError{Type: wire.TypeDouble, Text: text}
	}
	return f, nil
}

// Timestamps outside years 0001-9999 cannot be written back in ISO 8601, so they are refused on input.
const (
	minEpoch = -62135596800 // 0001-01-01T00:00:00Z
	maxEpoch = 253402300799 // 9999-12-31T23:59:59Z
)

// ParseTimestamp reads a timestamp in any of the three model formats whatever the model says, because clients
// differ (aws-sdk-go v1 and botocore disagree on some header defaults): epoch seconds with an optional
// fraction, ISO 8601 with or without fractional seconds (a missing zone is UTC), or an HTTP date.
func ParseTimestamp(text string) (time.Time, error) {
	s := strings.TrimSpace(text)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < minEpoch || f > maxEpoch {
			return time.Time{}, &SyntaxError{Type: wire.TypeTimestamp, Text: text, OutOfRange: true}
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
	return time.Time{}, &SyntaxError{Type: wire.TypeTimestamp, Text: text}
}

// DecodeBase64 reads standard base64, padded or not: some hand-written clients drop the padding, and the
// bytes are still unambiguous.
func DecodeBase64(text string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "=")); err != nil {
			return nil, &SyntaxError{Type: wire.TypeBlob, Text: text}
		}
	}
	return b, nil
}

// AppendTimestamp appends t in a model timestamp format; an unknown format is ISO 8601, written with the
// layout iso8601 (ISO8601 or ISO8601Millis). Epoch seconds carry a fraction only when there are milliseconds.
func AppendTimestamp(b []byte, t time.Time, format, iso8601 string) []byte {
	t = t.UTC()
	switch format {
	case TimestampUnix:
		if ms := t.Nanosecond() / int(time.Millisecond); ms != 0 {
			return strconv.AppendFloat(b, float64(t.UnixMilli())/1000, 'f', -1, 64)
		}
		return strconv.AppendInt(b, t.Unix(), 10)
	case TimestampRFC822:
		return t.AppendFormat(b, http.TimeFormat)
	default:
		return t.AppendFormat(b, iso8601)
	}
}

// FloatBits is the precision a float shape is written at: a float member is 32-bit, so that a float32
// widened to float64 prints as 1.2 rather than 1.2000000476837158.
func FloatBits(typ string) int {
	if typ == wire.TypeFloat {
		return 32
	}
	return 64
}

// AppendFloat appends f the way AWS and the SDKs spell floats: shortest decimal at bits precision, exponent
// only for very large or very small magnitudes, and NaN, Infinity, -Infinity for the special values.
func AppendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, bits)
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
