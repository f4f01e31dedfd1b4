package restxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc"
)

// maxDepth bounds nesting so a hostile body cannot recurse without end through a recursive shape.
const maxDepth = 100

// node is one parsed XML element. Bodies are small (a part list, a tagging set), so a tree is simpler than
// decoding in a stream and lets a structure read its attributes and children in any order.
type node struct {
	name     string // local name; prefixes are resolved away by encoding/xml
	attrs    []xml.Attr
	children []*node
	text     strings.Builder
}

// parseXML reads the root element of a document.
func parseXML(r io.Reader) (*node, error) {
	d := xml.NewDecoder(r)
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if root == nil || len(stack) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return root, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, errors.New("more than one root element")
			}
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("nested deeper than %d", maxDepth)
			}
			n := &node{name: t.Name.Local, attrs: t.Attr}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the root element")
			}
		}
	}
}

// localName drops a prefix: the attribute "xsi:type" is read as "type" in its namespace.
func localName(name string) string {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// decodeStruct reads the members of sh from n's attributes and children. Unknown elements are ignored.
// bodyOnly skips members bound to HTTP, which is what the top level of an input needs.
func decodeStruct(sh *wire.Shape, n *node, bodyOnly bool) (map[string]any, error) {
	out := map[string]any{}
	byName := map[string]*wire.Member{}
	for _, m := range sh.Members {
		if bodyOnly && !httpbind.IsBodyMember(m) {
			continue
		}
		if m.XMLAttribute {
			for _, a := range n.attrs {
				if a.Name.Local == localName(m.WireName()) {
					v, err := httpbind.ParseScalar(m, a.Value)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", m.Name, err)
					}
					out[m.Name] = v
				}
			}
			continue
		}
		byName[xmlenc.ElementName(m)] = m
	}
	for _, c := range n.children {
		m := byName[c.name]
		if m == nil {
			continue
		}
		var err error
		switch sh := m.Shape; {
		case sh.Type == wire.TypeList && m.IsFlattened():
			var v any
			if v, err = decodeValue(sh.Member, c); err == nil {
				items, _ := out[m.Name].([]any)
				out[m.Name] = append(items, v)
			}
		case sh.Type == wire.TypeMap && m.IsFlattened():
			entries, _ := out[m.Name].(map[string]any)
			if entries == nil {
				entries = map[string]any{}
				out[m.Name] = entries
			}
			err = decodeEntry(sh, c, entries)
		default:
			var v any
			if v, err = decodeValue(m, c); err == nil {
				out[m.Name] = v
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return out, nil
}

func decodeValue(m *wire.Member, n *node) (any, error) {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		return decodeStruct(sh, n, false)
	case wire.TypeList:
		// Every child is an item whatever its name ("member", "item", a locationName), as botocore reads lists.
		items := make([]any, 0, len(n.children))
		for i, c := range n.children {
			v, err := decodeValue(sh.Member, c)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			items = append(items, v)
		}
		return items, nil
	case wire.TypeMap:
		entries := map[string]any{}
		for _, c := range n.children {
			if err := decodeEntry(sh, c, entries); err != nil {
				return nil, err
			}
		}
		return entries, nil
	case wire.TypeDocument:
		return nil, fmt.Errorf("document %s has no XML form", sh.Name)
	default:
		return httpbind.ParseScalar(m, n.text.String())
	}
}

func decodeEntry(sh *wire.Shape, n *node, entries map[string]any) error {
	keyName, valueName := xmlenc.MapKeyNames(sh)
	var (
		key   string
		value any
		has   bool
	)
	for _, c := range n.children {
		switch c.name {
		case keyName:
			key, has = c.text.String(), true
		case valueName:
			v, err := decodeValue(sh.Value, c)
			if err != nil {
				return fmt.Errorf("[%q]: %w", key, err)
			}
			value = v
		}
	}
	if !has {
		return fmt.Errorf("map entry without <%s>", keyName)
	}
	entries[key] = value
	return nil
}

// writer appends XML for value trees. Element names come from the model and are written as given.
type writer struct {
	bytes.Buffer
}

func (w *writer) text(s string) { xml.EscapeText(w, []byte(s)) }

// open writes a start tag with its namespace declaration and attributes, self-closed when empty.
func (w *writer) open(name string, ns *wire.XMLNamespace, attrs []xml.Attr, empty bool) {
	w.WriteByte('<')
	w.WriteString(name)
	if ns != nil && ns.URI != "" {
		w.WriteString(" xmlns")
		if ns.Prefix != "" {
			w.WriteByte(':')
			w.WriteString(ns.Prefix)
		}
		w.WriteString(`="`)
		w.text(ns.URI)
		w.WriteByte('"')
	}
	for _, a := range attrs {
		w.WriteByte(' ')
		w.WriteString(a.Name.Local)
		w.WriteString(`="`)
		w.text(a.Value)
		w.WriteByte('"')
	}
	if empty {
		w.WriteString("/>")
		return
	}
	w.WriteByte('>')
}

func (w *writer) close(name string) {
	w.WriteString("</")
	w.WriteString(name)
	w.WriteByte('>')
}

// namespace is the xmlNamespace of a member reference, or of its shape.
func namespace(m *wire.Member) *wire.XMLNamespace {
	if m.XMLNamespace != nil {
		return m.XMLNamespace
	}
	return m.Shape.XMLNamespace
}

// writeStruct writes a structure element: attribute members in the start tag, the others as children.
func (w *writer) writeStruct(name string, ns *wire.XMLNamespace, sh *wire.Shape, tree map[string]any, bodyOnly bool) error {
	var attrs []xml.Attr
	children := 0
	for _, m := range sh.Members {
		v, ok := tree[m.Name]
		if !ok || v == nil || (bodyOnly && !httpbind.IsBodyMember(m)) {
			continue
		}
		if !m.XMLAttribute {
			children++
			continue
		}
		s, err := httpbind.FormatScalar(m, v, httpbind.TimestampISO8601)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: m.WireName()}, Value: s})
	}
	w.open(name, ns, attrs, children == 0)
	if children == 0 {
		return nil
	}
	for _, m := range sh.Members {
		v, ok := tree[m.Name]
		if !ok || v == nil || m.XMLAttribute || (bodyOnly && !httpbind.IsBodyMember(m)) {
			continue
		}
		if err := w.writeValue(m, xmlenc.ElementName(m), v); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	w.close(name)
	return nil
}

// writeValue writes v, a tree of m's shape, as the element name (or, for a flattened list or map, as repeated
// name elements).
func (w *writer) writeValue(m *wire.Member, name string, v any) error {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		tree, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("structure %s wants map[string]any, got %T", sh.Name, v)
		}
		return w.writeStruct(name, namespace(m), sh, tree, false)
	case wire.TypeList:
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("list %s wants []any, got %T", sh.Name, v)
		}
		if m.IsFlattened() {
			for i, e := range items {
				if err := w.writeItem(sh.Member, name, e); err != nil {
					return fmt.Errorf("[%d]: %w", i, err)
				}
			}
			return nil
		}
		item := xmlenc.ListItemName(sh)
		w.open(name, namespace(m), nil, len(items) == 0)
		if len(items) == 0 {
			return nil
		}
		for i, e := range items {
			if err := w.writeItem(sh.Member, item, e); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		w.close(name)
	case wire.TypeMap:
		entries, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("map %s wants map[string]any, got %T", sh.Name, v)
		}
		keyName, valueName := xmlenc.MapKeyNames(sh)
		entry := func(wrapper, k string) error {
			w.open(wrapper, nil, nil, false)
			w.open(keyName, nil, nil, false)
			w.text(k)
			w.close(keyName)
			if e := entries[k]; e != nil {
				if err := w.writeValue(sh.Value, valueName, e); err != nil {
					return fmt.Errorf("[%q]: %w", k, err)
				}
			}
			w.close(wrapper)
			return nil
		}
		if m.IsFlattened() {
			for _, k := range httpbind.SortedKeys(entries) {
				if err := entry(name, k); err != nil {
					return err
				}
			}
			return nil
		}
		w.open(name, namespace(m), nil, false)
		for _, k := range httpbind.SortedKeys(entries) {
			if err := entry("entry", k); err != nil {
				return err
			}
		}
		w.close(name)
	case wire.TypeDocument:
		return fmt.Errorf("document %s has no XML form", sh.Name)
	default:
		s, err := httpbind.FormatScalar(m, v, httpbind.TimestampISO8601)
		if err != nil {
			return err
		}
		w.open(name, namespace(m), nil, false)
		w.text(s)
		w.close(name)
	}
	return nil
}

// writeItem writes one list item; a nil item has nothing to say and is left out.
func (w *writer) writeItem(m *wire.Member, name string, v any) error {
	if v == nil {
		return nil
	}
	return w.writeValue(m, name, v)
}
