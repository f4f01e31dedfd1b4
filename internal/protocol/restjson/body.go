package restjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
	"github.com/overcast-cloud/overcast/internal/protocol/scalar"
)

// maxDepth bounds nesting so a hostile body cannot recurse without end through a recursive shape.
const maxDepth = 100

// decodeMembers reads the body members of sh from a JSON object into tree. Unknown keys are ignored, as
// services ignore fields newer clients send.
func decodeMembers(sh *wire.Shape, obj map[string]any, tree map[string]any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d", maxDepth)
	}
	for _, m := range sh.Members {
		if !httpbind.IsBodyMember(m) {
			continue
		}
		raw, ok := obj[m.WireName()]
		if !ok || raw == nil {
			continue
		}
		v, err := decodeValue(m, raw, depth+1)
		if err != nil {
			return fmt.Errorf("%s: %w", m.WireName(), err)
		}
		tree[m.Name] = v
	}
	return nil
}

func decodeValue(m *wire.Member, raw any, depth int) (any, error) {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, mismatch(sh, raw)
		}
		out := map[string]any{}
		return out, decodeMembers(sh, obj, out, depth)
	case wire.TypeList:
		arr, ok := raw.([]any)
		if !ok {
			return nil, mismatch(sh, raw)
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			if e == nil {
				continue
			}
			v, err := decodeValue(sh.Member, e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case wire.TypeMap:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, mismatch(sh, raw)
		}
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			if e == nil {
				continue // a null map value is no value (botocore drops them too)
			}
			v, err := decodeValue(sh.Value, e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%q]: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	case wire.TypeInteger, wire.TypeLong:
		n, ok := raw.(json.Number)
		if !ok {
			return nil, mismatch(sh, raw)
		}
		bits := 64
		if sh.Type == wire.TypeInteger {
			bits = 32
		}
		i, err := strconv.ParseInt(n.String(), 10, bits)
		if err != nil {
			return nil, fmt.Errorf("%s is not an %s", n, sh.Type)
		}
		return i, nil
	case wire.TypeFloat, wire.TypeDouble:
		switch x := raw.(type) {
		case json.Number:
			return x.Float64()
		case string: // "NaN", "Infinity", "-Infinity"
			switch x {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
		return nil, mismatch(sh, raw)
	case wire.TypeBoolean:
		b, ok := raw.(bool)
		if !ok {
			return nil, mismatch(sh, raw)
		}
		return b, nil
	case wire.TypeTimestamp:
		switch x := raw.(type) {
		case json.Number:
			return httpbind.ParseTimestamp(x.String())
		case string:
			return httpbind.ParseTimestamp(x)
		}
		return nil, mismatch(sh, raw)
	case wire.TypeBlob:
		s, ok := raw.(string)
		if !ok {
			return nil, mismatch(sh, raw)
		}
		return httpbind.DecodeBase64(s)
	case wire.TypeDocument:
		return document(raw), nil
	default: // string
		s, ok := raw.(string)
		if !ok {
			return nil, mismatch(sh, raw)
		}
		return s, nil
	}
}

// document turns the decoder's json.Numbers into the tree's float64.
func document(raw any) any {
	switch x := raw.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case []any:
		for i, e := range x {
			x[i] = document(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = document(e)
		}
	}
	return raw
}

func mismatch(sh *wire.Shape, raw any) error {
	return fmt.Errorf("%s %s cannot be a JSON %s", sh.Type, sh.Name, jsonKind(raw))
}

func jsonKind(raw any) string {
	switch raw.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", raw)
}

// writeStruct writes the members of a structure tree as a JSON object in model order. bodyOnly leaves out
// the members bound to HTTP (the top level of an input or output); nested structures have none.
func writeStruct(b *bytes.Buffer, sh *wire.Shape, tree map[string]any, bodyOnly bool) error {
	b.WriteByte('{')
	first := true
	for _, m := range sh.Members {
		v, ok := tree[m.Name]
		if !ok || v == nil || (bodyOnly && !httpbind.IsBodyMember(m)) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeString(b, m.WireName())
		b.WriteByte(':')
		if err := writeValue(b, m, v); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	b.WriteByte('}')
	return nil
}

func writeValue(b *bytes.Buffer, m *wire.Member, v any) error {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		tree, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("structure %s wants map[string]any, got %T", sh.Name, v)
		}
		return writeStruct(b, sh, tree, false)
	case wire.TypeList:
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("list %s wants []any, got %T", sh.Name, v)
		}
		b.WriteByte('[')
		for i, e := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			if e == nil {
				b.WriteString("null")
				continue
			}
			if err := writeValue(b, sh.Member, e); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		b.WriteByte(']')
	case wire.TypeMap:
		entries, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("map %s wants map[string]any, got %T", sh.Name, v)
		}
		b.WriteByte('{')
		first := true
		for _, k := range httpbind.SortedKeys(entries) {
			e := entries[k]
			if e == nil {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeString(b, k)
			b.WriteByte(':')
			if err := writeValue(b, sh.Value, e); err != nil {
				return fmt.Errorf("[%q]: %w", k, err)
			}
		}
		b.WriteByte('}')
	case wire.TypeFloat, wire.TypeDouble:
		f, ok := scalar.AsFloat(v)
		if !ok {
			return fmt.Errorf("%s %s wants float64, got %T", sh.Type, sh.Name, v)
		}
		s := httpbind.FormatFloat(f, sh.Type)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			writeString(b, s) // JSON has no literal for them; the SDKs read these strings
		} else {
			b.WriteString(s)
		}
	case wire.TypeInteger, wire.TypeLong, wire.TypeBoolean:
		s, err := httpbind.FormatScalar(m, v, "")
		if err != nil {
			return err
		}
		b.WriteString(s)
	case wire.TypeTimestamp:
		t, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("timestamp %s wants time.Time, got %T", sh.Name, v)
		}
		format := m.TimestampFormatOr(httpbind.TimestampUnix)
		s := httpbind.FormatTimestamp(t, format)
		if format == httpbind.TimestampUnix {
			b.WriteString(s)
		} else {
			writeString(b, s)
		}
	case wire.TypeDocument:
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("document %s: %w", sh.Name, err)
		}
		b.Write(data)
	default: // string, blob
		s, err := httpbind.FormatScalar(m, v, "")
		if err != nil {
			return err
		}
		writeString(b, s)
	}
	return nil
}

// writeString writes s as a JSON string. encoding/json's escaping of <, > and & is harmless to every client.
func writeString(b *bytes.Buffer, s string) {
	data, _ := json.Marshal(s)
	b.Write(data)
}
