package xmlenc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
)

// ParseScalar reads the text form of a scalar of sh's type, as it appears in an XML element or a query
// parameter. It is lenient where clients differ (timestamps in any of the three model formats, unpadded
// base64) and strict where a wrong value would silently change meaning (numbers, booleans). Its errors say what
// the value must be, without quoting it, so that callers can phrase them their protocol's way.
func ParseScalar(sh *wire.Shape, text string) (any, error) {
	switch sh.Type {
	case wire.TypeInteger, wire.TypeLong:
		bits := 64
		if sh.Type == wire.TypeInteger {
			bits = 32
		}
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, bits)
		if err != nil {
			return nil, fmt.Errorf("must be a %d-bit integer", bits)
		}
		return n, nil
	case wire.TypeFloat, wire.TypeDouble:
		f, err := ParseFloat(text)
		if err != nil {
			return nil, err
		}
		return f, nil
	case wire.TypeBoolean:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, errors.New("must be true or false")
	case wire.TypeTimestamp:
		t, err := ParseTimestamp(text)
		if err != nil {
			return nil, err
		}
		return t, nil
	case wire.TypeBlob:
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			// Some hand-written clients drop the padding; the bytes are still unambiguous.
			if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "=")); err != nil {
				return nil, errors.New("must be base64")
			}
		}
		return b, nil
	case wire.TypeStructure, wire.TypeList, wire.TypeMap, wire.TypeDocument:
		return nil, fmt.Errorf("%s %s is not a scalar", sh.Type, sh.Name)
	default: // string, "character"
		return text, nil
	}
}

// ParseFloat reads a decimal float, including the NaN, Infinity and -Infinity spellings of the SDKs.
func ParseFloat(text string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return 0, errors.New("must be a number")
	}
	return f, nil
}

// Timestamps outside years 0001-9999 cannot be written back in ISO 8601, so they are refused on input.
const (
	minEpoch = -62135596800 // 0001-01-01T00:00:00Z
	maxEpoch = 253402300799 // 9999-12-31T23:59:59Z
)

// ParseTimestamp reads a timestamp in any format a client may send whatever the model says: ISO 8601 with or
// without fractional seconds (a missing zone is UTC), epoch seconds with an optional fraction, or an HTTP date.
func ParseTimestamp(text string) (time.Time, error) {
	s := strings.TrimSpace(text)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < minEpoch || f > maxEpoch {
			return time.Time{}, errors.New("must be a timestamp between years 1 and 9999")
		}
		sec := math.Floor(f)
		// Microsecond rounding undoes binary fractions: 1.123 must not come back as 1.122999906.
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
	return time.Time{}, errors.New("must be an ISO 8601 timestamp")
}
