package query

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc"
)

// Naming is a dialect of query parameter names. EC2 is the query protocol with its own key rules, so the ec2
// codec reads its forms here too.
type Naming int

const (
	// QueryNaming: key = locationName or member name; lists "A.member.N" unless flattened ("A.N", or
	// "Loc.N" when the flattened list's member has locationName Loc); an empty list is "A=".
	QueryNaming Naming = iota
	// EC2Naming: key = queryName, else locationName with its first letter upper-cased, else the member name
	// upper-cased likewise; lists are always "A.N".
	EC2Naming
)

// FieldError is a parameter whose value does not parse as its member's type.
type FieldError struct {
	Key    string // the full parameter key: "Tag.1.Value", "MaxItems"
	Value  string
	Reason string // what the value must be: "must be a 32-bit integer"
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("parameter %s=%q: %s", e.Key, e.Value, e.Reason)
}

// maxDepth bounds how deep a key may reach into a recursive shape.
const maxDepth = 64

// DecodeForm reads the input structure of shape sh from form under naming's rules. Action and Version are
// routing and never members; unknown keys are ignored. A value that does not parse is a *FieldError.
func DecodeForm(sh *wire.Shape, form url.Values, naming Naming) (map[string]any, error) {
	root := &param{}
	for key, values := range form {
		if key == "Action" || key == "Version" || len(values) == 0 {
			continue
		}
		root.add(key, values[0])
	}
	d := formDecoder{naming: naming}
	return d.structure(sh, root, "", 0)
}

// param is one node of the dotted-key tree: "A.member.1.B=x" is A → member → 1 → B with value x. The decoder
// walks it with the shape so that list indices are found without guessing how many there are.
type param struct {
	value    string
	hasValue bool
	children map[string]*param
}

func (p *param) add(key, value string) {
	n := p
	for key != "" {
		seg, rest, _ := strings.Cut(key, ".")
		c := n.children[seg]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*param)
			}
			c = &param{}
			n.children[seg] = c
		}
		n, key = c, rest
	}
	if !n.hasValue {
		n.value, n.hasValue = value, true
	}
}

// indexed returns the children whose names are positive indices, in index order.
func (p *param) indexed() []indexedParam {
	var out []indexedParam
	for seg, c := range p.children {
		if i, err := strconv.Atoi(seg); err == nil && i > 0 {
			out = append(out, indexedParam{i, c})
		}
	}
	slices.SortFunc(out, func(a, b indexedParam) int { return a.index - b.index })
	return out
}

type indexedParam struct {
	index int
	p     *param
}

type formDecoder struct{ naming Naming }

func (d formDecoder) structure(sh *wire.Shape, p *param, path string, depth int) (map[string]any, error) {
	if depth > maxDepth {
		return nil, &FieldError{Key: path, Reason: "is nested too deeply"}
	}
	out := make(map[string]any)
	// Walk the keys present (few) rather than the members (EC2 structures have dozens).
	keys := memberKeys(sh, d.naming)
	for seg, c := range p.children {
		m := keys[seg]
		if m == nil {
			continue
		}
		v, ok, err := d.value(m, c, join(path, seg), depth+1)
		if err != nil {
			return nil, err
		}
		if ok {
			out[m.Name] = v
		}
	}
	return out, nil
}

// value decodes the parameter subtree p as m's shape; ok is false when p carries nothing for it.
func (d formDecoder) value(m *wire.Member, p *param, path string, depth int) (v any, ok bool, err error) {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		t, err := d.structure(sh, p, path, depth)
		return t, err == nil, err
	case wire.TypeList:
		items, itemsPath := p, path
		if d.naming == QueryNaming && !m.IsFlattened() {
			name := "member"
			if sh.Member.LocationName != "" {
				name = sh.Member.LocationName
			}
			items, itemsPath = p.children[name], join(path, name)
		}
		var idx []indexedParam
		if items != nil {
			idx = items.indexed()
		}
		if len(idx) == 0 {
			// "A=" is how the query protocol sends an empty list.
			if p.hasValue && p.value == "" {
				return []any{}, true, nil
			}
			return nil, false, nil
		}
		out := make([]any, 0, len(idx))
		for _, e := range idx {
			v, ok, err := d.value(sh.Member, e.p, join(itemsPath, strconv.Itoa(e.index)), depth+1)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out = append(out, v)
			}
		}
		return out, true, nil
	case wire.TypeMap:
		entries, entriesPath := p, path
		if !m.IsFlattened() {
			entries, entriesPath = p.children["entry"], join(path, "entry")
		}
		out := make(map[string]any)
		if entries == nil {
			if p.hasValue && p.value == "" {
				return out, true, nil
			}
			return nil, false, nil
		}
		keyName, valueName := d.mapKeyNames(sh)
		for _, e := range entries.indexed() {
			k := e.p.children[keyName]
			vp := e.p.children[valueName]
			if k == nil || !k.hasValue || vp == nil {
				continue
			}
			v, ok, err := d.value(sh.Value, vp, join(entriesPath, strconv.Itoa(e.index)+"."+valueName), depth+1)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out[k.value] = v
			}
		}
		return out, true, nil
	default:
		if !p.hasValue {
			return nil, false, nil
		}
		v, err := xmlenc.ParseScalar(sh, p.value)
		if err != nil {
			return nil, false, &FieldError{Key: path, Value: p.value, Reason: err.Error()}
		}
		return v, true, nil
	}
}

func (d formDecoder) mapKeyNames(sh *wire.Shape) (key, value string) {
	key, value = "key", "value"
	if sh.Key.LocationName != "" {
		key = d.fixCase(sh.Key.LocationName)
	}
	if sh.Value.LocationName != "" {
		value = d.fixCase(sh.Value.LocationName)
	}
	return key, value
}

// fixCase applies EC2's rule that a locationName is capitalised on input.
func (d formDecoder) fixCase(name string) string {
	if d.naming == EC2Naming {
		return upperFirst(name)
	}
	return name
}

// memberKey is the key segment of a structure member under naming's rules.
func memberKey(m *wire.Member, naming Naming) string {
	if naming == QueryNaming {
		// The same rule as for XML elements, including a flattened list's member locationName.
		return xmlenc.ElementName(m)
	}
	switch {
	case m.QueryName != "":
		return m.QueryName
	case m.LocationName != "":
		return upperFirst(m.LocationName)
	default:
		return upperFirst(m.Name)
	}
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

type shapeNaming struct {
	shape  *wire.Shape
	naming Naming
}

// keyIndex caches, per structure shape and naming, the member each key segment names. Shapes live as long as
// the process, so the cache is bounded by the models served.
var keyIndex sync.Map // shapeNaming → map[string]*wire.Member

func memberKeys(sh *wire.Shape, naming Naming) map[string]*wire.Member {
	k := shapeNaming{sh, naming}
	if v, ok := keyIndex.Load(k); ok {
		return v.(map[string]*wire.Member)
	}
	keys := make(map[string]*wire.Member, len(sh.Members))
	for _, m := range sh.Members {
		if m.Location == wire.LocationBody {
			keys[memberKey(m, naming)] = m
		}
	}
	v, _ := keyIndex.LoadOrStore(k, keys)
	return v.(map[string]*wire.Member)
}

func join(path, seg string) string {
	if path == "" {
		return seg
	}
	return path + "." + seg
}
