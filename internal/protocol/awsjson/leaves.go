package awsjson

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/jsonish"
	"github.com/overcast-cloud/overcast/internal/protocol/scalar"
)

func decodeLeaf(m *wire.Member, v any) (any, error) {
	switch m.Shape.Type {
	case wire.TypeString, "character":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case wire.TypeInteger, wire.TypeLong:
		if n, ok := v.(json.Number); ok {
			return parseInt(m.Shape.Type, n)
		}
	case wire.TypeFloat, wire.TypeDouble:
		switch x := v.(type) {
		case json.Number:
			return strconv.ParseFloat(string(x), 64)
		case string:
			return parseSpecialFloat(x)
		}
	case wire.TypeBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case wire.TypeTimestamp:
		switch x := v.(type) {
		case json.Number:
			return parseEpoch(string(x))
		case string:
			return parseTimestamp(x)
		}
	case wire.TypeBlob:
		if s, ok := v.(string); ok {
			return decodeBase64(s)
		}
	case wire.TypeDocument:
		return document(v), nil
	default:
		return nil, fmt.Errorf("shape type %q is not supported by awsJson", m.Shape.Type)
	}
	return nil, jsonish.TypeError(m, v)
}

// parseInt reads an integer exactly; a number written with a fraction or exponent is accepted when it is whole,
// as Java-based services do. Integers are checked against their 32-bit range.
func parseInt(typ string, n json.Number) (int64, error) {
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(n), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<63-1024 {
			return 0, fmt.Errorf("%s is not a %s", n, typ)
		}
		i = int64(f)
	}
	if typ == wire.TypeInteger && (i < math.MinInt32 || i > math.MaxInt32) {
		return 0, fmt.Errorf("%s is out of range for an integer", n)
	}
	return i, nil
}

// parseSpecialFloat reads the strings JSON protocols use for the floats JSON numbers cannot spell.
func parseSpecialFloat(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	return 0, fmt.Errorf("expected a number, found the string %q", s)
}

// parseEpoch reads epoch seconds from their decimal text so that fractions keep their digits: a float64 holds
// only microseconds at today's epoch.
func parseEpoch(s string) (time.Time, error) {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if !strings.ContainsAny(s, "eE") {
		sec, err := strconv.ParseInt(intPart, 10, 64)
		if err == nil && (!hasFrac || isDigits(frac)) {
			frac = (frac + "000000000")[:9]
			nsec, _ := strconv.ParseInt(frac, 10, 64)
			if strings.HasPrefix(intPart, "-") {
				nsec = -nsec
			}
			return time.Unix(sec, nsec).UTC(), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1e15 {
		return time.Time{}, fmt.Errorf("%s is not a timestamp", s)
	}
	sec, fr := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(fr*1e6))*1e3).UTC(), nil // a double holds about a microsecond
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseTimestamp reads a timestamp written as a string, in whichever of the model's formats the client chose.
func parseTimestamp(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", http.TimeFormat, time.RFC1123Z, time.RFC1123} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if t, err := parseEpoch(s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp", s)
}

// decodeBase64 accepts padded and unpadded standard base64, as AWS's JSON services do.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return b, nil
		}
		return nil, errors.New("blob is not valid base64")
	}
	return b, nil
}

// document converts a decoded JSON value into a tree document: numbers become float64, as the tree convention
// holds them.
func document(v any) any { return jsonish.Document(v, jsonNumber) }

func jsonNumber(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, _ := strconv.ParseFloat(string(n), 64)
	return f, true
}

func encodeLeaf(m *wire.Member, v any) (any, error) {
	switch m.Shape.Type {
	case wire.TypeString, "character":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case wire.TypeInteger, wire.TypeLong:
		if n, ok := scalar.AsInt(v); ok {
			return n, nil
		}
	case wire.TypeFloat, wire.TypeDouble:
		bits := 64
		if m.Shape.Type == wire.TypeFloat {
			bits = 32
		}
		switch f := v.(type) {
		case float64:
			return formatFloat(f, bits), nil
		case float32:
			return formatFloat(float64(f), bits), nil
		}
	case wire.TypeBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case wire.TypeTimestamp:
		if t, ok := v.(time.Time); ok {
			return formatTimestamp(t, m.TimestampFormatOr(scalar.TimestampUnix)), nil // awsJson's default is epoch seconds
		}
	case wire.TypeBlob:
		switch b := v.(type) {
		case []byte:
			return base64.StdEncoding.EncodeToString(b), nil
		case io.ReadCloser:
			data, err := io.ReadAll(b)
			b.Close()
			if err != nil {
				return nil, err
			}
			return base64.StdEncoding.EncodeToString(data), nil
		}
	case wire.TypeDocument:
		return v, nil
	default:
		return nil, fmt.Errorf("shape type %q is not supported by awsJson", m.Shape.Type)
	}
	return nil, fmt.Errorf("tree holds %T for a %s", v, m.Shape.Type)
}

// formatFloat writes f in the shortest decimal form that reads back to the same value at its precision (a float member
// is 32-bit, so 1.2 stays "1.2" rather than 1.2000000476837158). Non-finite values are the strings JSON
// protocols use for them.
func formatFloat(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return json.Number(strconv.FormatFloat(f, 'e', -1, bits))
	}
	s := strconv.FormatFloat(f, 'f', -1, bits)
	if !strings.Contains(s, ".") {
		s += ".0" // as AWS writes it: botocore hands Python a float, not an int, for a whole double
	}
	return json.Number(s)
}

// formatTimestamp writes t in the member's format. Epoch seconds carry milliseconds, AWS's precision, and a
// fraction only when there is one.
func formatTimestamp(t time.Time, format string) any {
	t = t.UTC()
	switch format {
	case scalar.TimestampISO8601:
		return t.Truncate(time.Millisecond).Format(scalar.ISO8601)
	case scalar.TimestampRFC822:
		return t.Format(http.TimeFormat)
	}
	return json.Number(EpochSeconds(t))
}

// EpochSeconds is t as decimal epoch seconds with at most millisecond digits and no trailing zeros.
func EpochSeconds(t time.Time) string {
	ms, sign := t.UnixMilli(), ""
	if ms < 0 {
		ms, sign = -ms, "-"
	}
	sec, frac := ms/1000, ms%1000
	s := sign + strconv.FormatInt(sec, 10)
	if frac == 0 {
		return s
	}
	return s + "." + strings.TrimRight(fmt.Sprintf("%03d", frac), "0")
}
