package xmlenc

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
)

// maxDepth bounds nesting so that a hostile body cannot recurse without end through a recursive shape.
const maxDepth = 100

// DecodeMembers reads the children of the element whose start tag was just read from d, up to its end tag,
// into a structure tree of shape sh.
func DecodeMembers(d *xml.Decoder, sh *wire.Shape) (map[string]any, error) {
	return decodeStruct(d, sh, 0)
}

// DecodeValue reads the content of the element whose start tag was just read from d as a value of m's shape.
// For a flattened list or map member it reads one item or entry, not the whole collection.
func DecodeValue(d *xml.Decoder, m *wire.Member) (any, error) {
	return decodeValue(d, m, 0)
}

// FindElement reads from d up to the start of the element at path (names of nested elements, the first being
// the root) and returns with that start tag consumed.
func FindElement(d *xml.Decoder, path ...string) error {
	for depth := 0; depth < len(path); {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("looking for <%s>: %w", strings.Join(path, "><"), err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == path[depth] {
				depth++
				continue
			}
			if err := d.Skip(); err != nil {
				return err
			}
		case xml.EndElement:
			return fmt.Errorf("no <%s> in <%s>", path[depth], t.Name.Local)
		}
	}
	return nil
}

func decodeStruct(d *xml.Decoder, sh *wire.Shape, depth int) (map[string]any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	byName := make(map[string]*wire.Member, len(sh.Members))
	for _, m := range sh.Members {
		if m.Location == wire.LocationBody && !m.XMLAttribute {
			byName[ElementName(m)] = m
		}
	}
	out := make(map[string]any)
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return out, nil
		case xml.StartElement:
			m := byName[t.Name.Local]
			if m == nil {
				if err := d.Skip(); err != nil {
					return nil, err
				}
				continue
			}
			if err := decodeMember(d, m, out, depth); err != nil {
				return nil, fmt.Errorf("%s: %w", m.Name, err)
			}
		}
	}
}

// decodeMember reads one element of member m into out. Repeated elements of a flattened list or map add to
// what earlier ones read.
func decodeMember(d *xml.Decoder, m *wire.Member, out map[string]any, depth int) error {
	sh := m.Shape
	switch {
	case sh.Type == wire.TypeList && m.IsFlattened():
		v, err := decodeValue(d, sh.Member, depth+1)
		if err != nil {
			return err
		}
		items, _ := out[m.Name].([]any)
		out[m.Name] = append(items, v)
	case sh.Type == wire.TypeMap && m.IsFlattened():
		entries, _ := out[m.Name].(map[string]any)
		if entries == nil {
			entries = make(map[string]any)
			out[m.Name] = entries
		}
		return decodeEntry(d, sh, entries, depth+1)
	default:
		v, err := decodeValue(d, m, depth+1)
		if err != nil {
			return err
		}
		out[m.Name] = v
	}
	return nil
}

func decodeValue(d *xml.Decoder, m *wire.Member, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		return decodeStruct(d, sh, depth)
	case wire.TypeList:
		// Only children of the item's name count, as in aws-sdk-go-v2 (botocore takes any child).
		items, itemName := []any{}, ListItemName(sh)
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.EndElement:
				return items, nil
			case xml.StartElement:
				if t.Name.Local != itemName {
					if err := d.Skip(); err != nil {
						return nil, err
					}
					continue
				}
				v, err := decodeValue(d, sh.Member, depth+1)
				if err != nil {
					return nil, fmt.Errorf("[%d]: %w", len(items), err)
				}
				items = append(items, v)
			}
		}
	case wire.TypeMap:
		entries := make(map[string]any)
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.EndElement:
				return entries, nil
			case xml.StartElement:
				if t.Name.Local != "entry" {
					if err := d.Skip(); err != nil {
						return nil, err
					}
					continue
				}
				if err := decodeEntry(d, sh, entries, depth+1); err != nil {
					return nil, err
				}
			}
		}
	default:
		text, err := readText(d)
		if err != nil {
			return nil, err
		}
		return ParseScalar(sh, text)
	}
}

// decodeEntry reads one map entry (the children key and value of the element just opened) into entries.
func decodeEntry(d *xml.Decoder, sh *wire.Shape, entries map[string]any, depth int) error {
	keyName, valueName := MapKeyNames(sh)
	var (
		key, value any
		hasKey     bool
	)
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if !hasKey {
				return fmt.Errorf("map entry without <%s>", keyName)
			}
			k, ok := key.(string)
			if !ok {
				return fmt.Errorf("map key is %T, not a string", key)
			}
			entries[k] = value
			return nil
		case xml.StartElement:
			switch t.Name.Local {
			case keyName:
				if key, err = decodeValue(d, sh.Key, depth+1); err != nil {
					return err
				}
				hasKey = true
			case valueName:
				if value, err = decodeValue(d, sh.Value, depth+1); err != nil {
					return err
				}
			default:
				if err := d.Skip(); err != nil {
					return err
				}
			}
		}
	}
}

// readText reads the character data of the element just opened up to its end tag, skipping any child elements.
func readText(d *xml.Decoder) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			if err := d.Skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return b.String(), nil
		}
	}
}
