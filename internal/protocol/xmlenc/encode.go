package xmlenc

import (
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/scalar"
)

// Timestamp formats as the models spell them.
const (
	TimestampISO8601 = scalar.TimestampISO8601
	TimestampUnix    = scalar.TimestampUnix
	TimestampRFC822  = scalar.TimestampRFC822
)

// ElementName is the element a structure member is written as: its locationName or its name, except that a
// flattened list whose member has a locationName repeats under that name (botocore's _member_key_name).
func ElementName(m *wire.Member) string {
	if sh := m.Shape; sh.Type == wire.TypeList && m.IsFlattened() && sh.Member != nil && sh.Member.LocationName != "" {
		return sh.Member.LocationName
	}
	return m.WireName()
}

// ListItemName is the element each item of a wrapped list is written as: its locationName, else "member".
func ListItemName(sh *wire.Shape) string {
	if sh.Member.LocationName != "" {
		return sh.Member.LocationName
	}
	return "member"
}

// MapKeyNames are the elements of a map entry's key and value: their locationNames, else "key" and "value".
func MapKeyNames(sh *wire.Shape) (key, value string) {
	key, value = "key", "value"
	if sh.Key.LocationName != "" {
		key = sh.Key.LocationName
	}
	if sh.Value.LocationName != "" {
		value = sh.Value.LocationName
	}
	return key, value
}

// WriteMembers writes every present member of the structure tree (of shape sh) as its element, in model order.
// Members bound to HTTP headers, URIs or status codes are not body content and are left to the caller.
func (w *Writer) WriteMembers(sh *wire.Shape, tree map[string]any) error {
	left := len(tree) // members of the tree not yet met: large shapes are mostly absent members, so stop early
	for _, m := range sh.Members {
		if left == 0 {
			break
		}
		v, ok := tree[m.Name]
		if !ok {
			continue
		}
		left--
		if v == nil || m.Location != wire.LocationBody {
			continue
		}
		if err := w.WriteValue(m, ElementName(m), v); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}

// WriteValue writes v, a value tree of m's shape, as the element name (or, for a flattened list or map, as
// repeated name elements).
func (w *Writer) WriteValue(m *wire.Member, name string, v any) error {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		tree, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("structure %s wants map[string]any, got %T", sh.Name, v)
		}
		mark := w.Open(name)
		if err := w.WriteMembers(sh, tree); err != nil {
			return err
		}
		w.Close(name, mark)
	case wire.TypeList:
		return w.writeList(m, name, v)
	case wire.TypeMap:
		return w.writeMap(m, name, v)
	default:
		w.Open(name)
		if err := w.appendScalar(m, v); err != nil {
			return err
		}
		w.buf = append(w.buf, '<', '/')
		w.buf = append(w.buf, name...)
		w.buf = append(w.buf, '>')
	}
	return nil
}

func (w *Writer) writeList(m *wire.Member, name string, v any) error {
	items, ok := v.([]any)
	if !ok {
		return fmt.Errorf("list %s wants []any, got %T", m.Shape.Name, v)
	}
	sh := m.Shape
	if m.IsFlattened() {
		for i, e := range items {
			if e == nil {
				continue
			}
			if err := w.WriteValue(sh.Member, name, e); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
	item := ListItemName(sh)
	mark := w.Open(name)
	for i, e := range items {
		if e == nil {
			continue
		}
		if err := w.WriteValue(sh.Member, item, e); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	w.Close(name, mark)
	return nil
}

func (w *Writer) writeMap(m *wire.Member, name string, v any) error {
	entries, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("map %s wants map[string]any, got %T", m.Shape.Name, v)
	}
	sh := m.Shape
	keyName, valueName := MapKeyNames(sh)
	// Sorted keys make the body deterministic, which clients don't need but tests and caches do.
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	entry := func(wrapper string, k string) error {
		mark := w.Open(wrapper)
		w.Element(keyName, k)
		if e := entries[k]; e != nil {
			if err := w.WriteValue(sh.Value, valueName, e); err != nil {
				return fmt.Errorf("[%q]: %w", k, err)
			}
		}
		w.Close(wrapper, mark)
		return nil
	}
	if m.IsFlattened() {
		for _, k := range keys {
			if err := entry(name, k); err != nil {
				return err
			}
		}
		return nil
	}
	mark := w.Open(name)
	for _, k := range keys {
		if err := entry("entry", k); err != nil {
			return err
		}
	}
	w.Close(name, mark)
	return nil
}

// appendScalar appends the text form of a scalar value of m's shape.
func (w *Writer) appendScalar(m *wire.Member, v any) error {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeInteger, wire.TypeLong:
		n, ok := scalar.AsInt(v)
		if !ok {
			return fmt.Errorf("%s %s wants int64, got %T", sh.Type, sh.Name, v)
		}
		w.buf = strconv.AppendInt(w.buf, n, 10)
	case wire.TypeFloat, wire.TypeDouble:
		f, ok := scalar.AsFloat(v)
		if !ok {
			return fmt.Errorf("%s %s wants float64, got %T", sh.Type, sh.Name, v)
		}
		w.buf = scalar.AppendFloat(w.buf, f, scalar.FloatBits(sh.Type))
	case wire.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("boolean %s wants bool, got %T", sh.Name, v)
		}
		w.buf = strconv.AppendBool(w.buf, b)
	case wire.TypeTimestamp:
		t, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("timestamp %s wants time.Time, got %T", sh.Name, v)
		}
		w.buf = AppendTimestamp(w.buf, t, m.TimestampFormatOr(TimestampISO8601))
	case wire.TypeBlob:
		var data []byte
		switch b := v.(type) {
		case []byte:
			data = b
		case string:
			data = []byte(b)
		case io.Reader:
			var err error
			if data, err = io.ReadAll(b); err != nil {
				return fmt.Errorf("blob %s: %w", sh.Name, err)
			}
		default:
			return fmt.Errorf("blob %s wants []byte, got %T", sh.Name, v)
		}
		w.buf = base64.StdEncoding.AppendEncode(w.buf, data)
	case wire.TypeDocument:
		return fmt.Errorf("document %s has no XML form", sh.Name)
	default: // string, and botocore's legacy "character"
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s %s wants string, got %T", sh.Type, sh.Name, v)
		}
		w.buf = appendEscaped(w.buf, s, false)
	}
	return nil
}

// AppendTimestamp appends t in a model timestamp format (iso8601 when format is unknown). Milliseconds are
// written only when they are non-zero, which is what AWS's query protocols write and every SDK accepts.
func AppendTimestamp(b []byte, t time.Time, format string) []byte {
	return scalar.AppendTimestamp(b, t, format, scalar.ISO8601)
}

// AppendFloat appends f the way AWS and the SDKs spell floats (see scalar.AppendFloat).
func AppendFloat(b []byte, f float64, bits int) []byte { return scalar.AppendFloat(b, f, bits) }
