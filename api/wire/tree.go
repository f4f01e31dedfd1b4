package wire

import (
	"fmt"
	"io"
	"reflect"
	"time"
)

// A value tree is how the codecs hold an operation's input or output, independent of any Go type:
//
//	structure          map[string]any, keyed by member name; absent members are absent keys
//	list               []any
//	map                map[string]any
//	string             string
//	integer, long      int64
//	float, double      float64
//	boolean            bool
//	timestamp          time.Time
//	blob               []byte, or io.ReadCloser for a streaming payload
//	document           any (nil, bool, float64, string, []any, map[string]any)
//
// The typed structs generated in api/<service> declare their fields in the order of Shape.Members, which is
// what lets ToTyped and FromTyped move between the two by index alone. In a struct, scalars and structures are
// pointers (nil is absent); inside lists and maps they are values.

// ToTyped fills the typed struct that dst points to from a structure tree of shape sh.
func ToTyped(sh *Shape, tree map[string]any, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("wire: ToTyped wants a pointer to a struct, got %T", dst)
	}
	return setStruct(sh, tree, v.Elem())
}

func setStruct(sh *Shape, tree map[string]any, v reflect.Value) error {
	if v.NumField() < len(sh.Members) {
		return fmt.Errorf("wire: %s has %d fields for %d members", v.Type(), v.NumField(), len(sh.Members))
	}
	for i, m := range sh.Members {
		raw, ok := tree[m.Name]
		if !ok || raw == nil {
			continue
		}
		if err := setValue(m, raw, v.Field(i), true); err != nil {
			return fmt.Errorf("%s.%s: %w", sh.Name, m.Name, err)
		}
	}
	return nil
}

// setValue stores raw into f; inStruct says whether f is a struct field (scalars are pointers there).
func setValue(m *Member, raw any, f reflect.Value, inStruct bool) error {
	sh := m.Shape
	target := f
	if inStruct && f.Kind() == reflect.Pointer {
		p := reflect.New(f.Type().Elem())
		f.Set(p)
		target = p.Elem()
	}
	switch sh.Type {
	case TypeStructure:
		t, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("structure wants map, got %T", raw)
		}
		return setStruct(sh, t, target)
	case TypeList:
		l, ok := raw.([]any)
		if !ok {
			return fmt.Errorf("list wants []any, got %T", raw)
		}
		s := reflect.MakeSlice(target.Type(), len(l), len(l))
		for i, e := range l {
			if e == nil {
				continue
			}
			if err := setValue(sh.Member, e, s.Index(i), false); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		target.Set(s)
	case TypeMap:
		mp, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("map wants map[string]any, got %T", raw)
		}
		out := reflect.MakeMapWithSize(target.Type(), len(mp))
		for k, e := range mp {
			ev := reflect.New(target.Type().Elem()).Elem()
			if e != nil {
				if err := setValue(sh.Value, e, ev, false); err != nil {
					return fmt.Errorf("[%q]: %w", k, err)
				}
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(target.Type().Key()), ev)
		}
		target.Set(out)
	case TypeString:
		s, ok := raw.(string)
		if !ok {
			return fmt.Errorf("string wants string, got %T", raw)
		}
		target.SetString(s)
	case TypeInteger, TypeLong:
		n, ok := raw.(int64)
		if !ok {
			return fmt.Errorf("%s wants int64, got %T", sh.Type, raw)
		}
		target.SetInt(n)
	case TypeFloat, TypeDouble:
		n, ok := raw.(float64)
		if !ok {
			return fmt.Errorf("%s wants float64, got %T", sh.Type, raw)
		}
		target.SetFloat(n)
	case TypeBoolean:
		b, ok := raw.(bool)
		if !ok {
			return fmt.Errorf("boolean wants bool, got %T", raw)
		}
		target.SetBool(b)
	case TypeTimestamp:
		t, ok := raw.(time.Time)
		if !ok {
			return fmt.Errorf("timestamp wants time.Time, got %T", raw)
		}
		target.Set(reflect.ValueOf(t))
	case TypeBlob:
		switch b := raw.(type) {
		case []byte:
			if target.Kind() == reflect.Interface {
				target.Set(reflect.ValueOf(io.NopCloser(bytesReader(b))))
			} else {
				target.SetBytes(b)
			}
		case io.ReadCloser:
			if target.Kind() != reflect.Interface {
				data, err := io.ReadAll(b)
				if err != nil {
					return err
				}
				target.SetBytes(data)
			} else {
				target.Set(reflect.ValueOf(b))
			}
		default:
			return fmt.Errorf("blob wants []byte or io.ReadCloser, got %T", raw)
		}
	case TypeDocument:
		target.Set(reflect.ValueOf(raw))
	default:
		return fmt.Errorf("unknown shape type %q", sh.Type)
	}
	return nil
}

// FromTyped turns the typed struct src (a pointer) of shape sh into a structure tree. A nil src gives an empty tree.
func FromTyped(sh *Shape, src any) map[string]any {
	v := reflect.ValueOf(src)
	if !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return map[string]any{}
	}
	return getStruct(sh, reflect.Indirect(v))
}

func getStruct(sh *Shape, v reflect.Value) map[string]any {
	n := min(len(sh.Members), v.NumField())
	// Size the tree for the members present, not for every member of the shape: output shapes such as EC2's
	// Instance have dozens of members that are mostly absent, and a map sized for all of them costs twice the
	// memory to allocate and clear.
	present := 0
	for i := range n {
		if !isNil(v.Field(i)) {
			present++
		}
	}
	tree := make(map[string]any, present)
	for i, m := range sh.Members[:n] {
		if val, ok := getValue(m, v.Field(i), true); ok {
			tree[m.Name] = val
		}
	}
	return tree
}

// isNil reports whether f is a nil pointer, interface, slice or map: an absent member.
func isNil(f reflect.Value) bool {
	switch f.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return f.IsNil()
	}
	return false
}

func getValue(m *Member, f reflect.Value, inStruct bool) (any, bool) {
	sh := m.Shape
	if isNil(f) {
		return nil, false
	}
	if inStruct && f.Kind() == reflect.Pointer {
		f = f.Elem()
	}
	switch sh.Type {
	case TypeStructure:
		return getStruct(sh, f), true
	case TypeList:
		out := make([]any, f.Len())
		for i := range out {
			out[i], _ = getValue(sh.Member, f.Index(i), false)
		}
		return out, true
	case TypeMap:
		out := make(map[string]any, f.Len())
		it := f.MapRange()
		for it.Next() {
			out[it.Key().String()], _ = getValue(sh.Value, it.Value(), false)
		}
		return out, true
	case TypeString:
		return f.String(), true
	case TypeInteger, TypeLong:
		return f.Int(), true
	case TypeFloat, TypeDouble:
		return f.Float(), true
	case TypeBoolean:
		return f.Bool(), true
	case TypeTimestamp:
		return f.Interface().(time.Time), true
	case TypeBlob:
		if f.Kind() == reflect.Interface {
			return f.Interface(), true
		}
		return f.Bytes(), true
	case TypeDocument:
		return f.Interface(), true
	}
	return nil, false
}
