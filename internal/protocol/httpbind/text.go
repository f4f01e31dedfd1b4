package httpbind

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/scalar"
)

// Timestamp formats as the models spell them.
const (
	TimestampISO8601 = scalar.TimestampISO8601
	TimestampRFC822  = scalar.TimestampRFC822 // HTTP date
	TimestampUnix    = scalar.TimestampUnix
)

// FormatTimestamp writes t in a model timestamp format; an unknown format is ISO 8601, which always carries
// milliseconds, as S3 writes "2026-01-02T03:04:05.000Z"; every SDK parses it.
func FormatTimestamp(t time.Time, format string) string {
	return string(scalar.AppendTimestamp(nil, t, format, scalar.ISO8601Millis))
}

// ParseTimestamp reads a timestamp in any of the three model formats whatever the model says (see
// scalar.ParseTimestamp).
func ParseTimestamp(text string) (time.Time, error) {
	t, err := scalar.ParseTimestamp(text)
	return t, restate(err)
}

// FormatFloat writes f the way the SDKs read floats: shortest decimal, and NaN, Infinity, -Infinity for the
// special values. float shapes are printed at 32-bit precision so 1.2 stays "1.2".
func FormatFloat(f float64, typ string) string {
	return string(scalar.AppendFloat(nil, f, scalar.FloatBits(typ)))
}

// ParseScalar reads the text form of a scalar of m's shape, as it appears in a URI label, a query parameter, a
// header or an XML element. Blobs are base64 and timestamps are read by ParseTimestamp.
func ParseScalar(m *wire.Member, text string) (any, error) {
	v, err := scalar.Parse(m.Shape, text)
	return v, restate(err)
}

// DecodeBase64 reads standard base64, padded or not.
func DecodeBase64(text string) ([]byte, error) {
	b, err := scalar.DecodeBase64(text)
	return b, restate(err)
}

// restate phrases a refused scalar the way the REST protocols answer it: naming the type and quoting the text,
// which sits beside the member and location the caller adds.
func restate(err error) error {
	var se *scalar.SyntaxError
	if !errors.As(err, &se) {
		return err
	}
	switch se.Type {
	case wire.TypeInteger, wire.TypeLong:
		return fmt.Errorf("not an %s: %q", se.Type, se.Text)
	case wire.TypeFloat, wire.TypeDouble:
		return fmt.Errorf("not a number: %q", se.Text)
	case wire.TypeBoolean:
		return fmt.Errorf("not a boolean: %q", se.Text)
	case wire.TypeTimestamp:
		if se.OutOfRange {
			return fmt.Errorf("timestamp out of range: %q", se.Text)
		}
		return fmt.Errorf("not a timestamp: %q", se.Text)
	case wire.TypeBlob:
		return fmt.Errorf("not base64: %q", se.Text)
	}
	return err
}

// FormatScalar writes v, a scalar tree value of m's shape, as text; timestamps without a format trait use
// tsDefault (which depends on where the value goes: ISO 8601 in bodies and query strings, HTTP date in headers).
func FormatScalar(m *wire.Member, v any, tsDefault string) (string, error) {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeInteger, wire.TypeLong:
		n, ok := scalar.AsInt(v)
		if !ok {
			return "", fmt.Errorf("%s %s wants int64, got %T", sh.Type, sh.Name, v)
		}
		return strconv.FormatInt(n, 10), nil
	case wire.TypeFloat, wire.TypeDouble:
		f, ok := scalar.AsFloat(v)
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
		data, err := scalar.BlobBytes(v)
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
