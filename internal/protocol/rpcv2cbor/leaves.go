package rpcv2cbor

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/jsonish"
	"github.com/overcast-cloud/overcast/internal/protocol/scalar"
)

func decodeLeaf(m *wire.Member, v any) (any, error) {
	switch m.Shape.Type {
	case wire.TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case wire.TypeInteger, wire.TypeLong:
		return decodeInt(m.Shape.Type, v)
	case wire.TypeFloat, wire.TypeDouble:
		switch x := v.(type) {
		case float64:
			return x, nil
		case uint64:
			return float64(x), nil
		case int64:
			return float64(x), nil
		}
	case wire.TypeBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case wire.TypeTimestamp:
		// Tag 1 arrives as time.Time; an untagged number is read as epoch seconds all the same. Clients send
		// fractional seconds as a double, which holds about a microsecond at today's epoch: rounding there
		// turns 1715938212.123 back into .123 rather than .122999906.
		switch x := v.(type) {
		case time.Time:
			return x.Round(time.Microsecond).UTC(), nil
		case uint64, int64, float64:
			return epoch(x)
		}
	case wire.TypeBlob:
		if b, ok := v.([]byte); ok {
			return b, nil
		}
	case wire.TypeDocument:
		return document(v), nil
	default:
		return nil, fmt.Errorf("shape type %q is not supported by rpcv2Cbor", m.Shape.Type)
	}
	return nil, jsonish.TypeError(m, v)
}

// decodeInt reads a CBOR integer into int64, checking an integer member's 32-bit range.
func decodeInt(typ string, v any) (int64, error) {
	var i int64
	switch x := v.(type) {
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d is out of range for a %s", x, typ)
		}
		i = int64(x)
	case int64:
		i = x
	default:
		return 0, fmt.Errorf("expected %s, found a %T", typ, v)
	}
	if typ == wire.TypeInteger && (i < math.MinInt32 || i > math.MaxInt32) {
		return 0, fmt.Errorf("%d is out of range for an integer", i)
	}
	return i, nil
}

func epoch(v any) (time.Time, error) {
	switch x := v.(type) {
	case uint64:
		if x <= math.MaxInt64 {
			return time.Unix(int64(x), 0).UTC(), nil
		}
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case float64:
		if !math.IsNaN(x) && math.Abs(x) < 1e15 {
			sec, frac := math.Modf(x)
			return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%v is not a timestamp", v)
}

// document converts a decoded CBOR value into a tree document: numbers become float64 as the tree convention
// holds them; byte strings and times, which documents cannot hold, are kept as they came.
func document(v any) any { return jsonish.Document(v, cborInteger) }

func cborInteger(v any) (float64, bool) {
	switch x := v.(type) {
	case uint64:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

func encodeLeaf(m *wire.Member, v any) (any, error) {
	switch m.Shape.Type {
	case wire.TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case wire.TypeInteger, wire.TypeLong:
		if n, ok := scalar.AsInt(v); ok {
			return n, nil
		}
	case wire.TypeFloat, wire.TypeDouble:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			return nil, fmt.Errorf("tree holds %T for a %s", v, m.Shape.Type)
		}
		// A float member is 32-bit in Smithy: written as such, 1.2 reads back as the client's float32 1.2.
		if m.Shape.Type == wire.TypeFloat {
			return float32(f), nil
		}
		return f, nil
	case wire.TypeBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case wire.TypeTimestamp:
		if t, ok := v.(time.Time); ok {
			return timestamp(t), nil
		}
	case wire.TypeBlob:
		switch b := v.(type) {
		case []byte:
			return b, nil
		case io.ReadCloser:
			data, err := io.ReadAll(b)
			b.Close()
			return data, err
		}
	case wire.TypeDocument:
		return v, nil
	default:
		return nil, fmt.Errorf("shape type %q is not supported by rpcv2Cbor", m.Shape.Type)
	}
	return nil, fmt.Errorf("tree holds %T for a %s", v, m.Shape.Type)
}

// timestamp is tag 1 around epoch seconds: an integer when whole, else a double with millisecond precision,
// which is what smithy-go keeps of it.
func timestamp(t time.Time) cbor.Tag {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return cbor.Tag{Number: 1, Content: ms / 1000}
	}
	return cbor.Tag{Number: 1, Content: float64(ms) / 1e3}
}
