// Package jsonish holds what the two document-shaped protocols, awsJson and Smithy RPC v2 CBOR, share: both
// carry an operation's input and output as one self-describing map keyed by member name, and both answer an error
// with a "__type" and message envelope. Walk moves between a protocol's generic decoded values and value trees
// (see wire/tree.go) by shape, leaving the leaves to the protocol; the rest of the package builds the error
// envelope and the awsQueryCompatible header. It knows neither JSON nor CBOR bytes, and nothing about services.
package jsonish

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
)

// Leaves is what a protocol contributes to Walk: how members are named and how scalar, timestamp, blob and
// document values look on its wire.
type Leaves struct {
	// Key is the name of a structure member in the protocol's map.
	Key func(m *wire.Member) string
	// Decode turns a decoded wire leaf into its tree value (see wire/tree.go).
	Decode func(m *wire.Member, v any) (any, error)
	// Encode turns a tree leaf into the value the protocol's encoder writes.
	Encode func(m *wire.Member, v any) (any, error)
}

// PathError is a value that does not fit its shape, with the member path where it was found.
type PathError struct {
	Path string // "MetricData[0].Dimensions[1].Value"
	Err  error
}

func (e *PathError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

func (e *PathError) Unwrap() error { return e.Err }

// under prefixes err's path with one more step; name is a member name, or an index or key already bracketed.
func under(name string, err error) error {
	var pe *PathError
	if !errors.As(err, &pe) {
		pe = &PathError{Err: err}
	}
	switch {
	case pe.Path == "":
		pe.Path = name
	case strings.HasPrefix(pe.Path, "["):
		pe.Path = name + pe.Path
	default:
		pe.Path = name + "." + pe.Path
	}
	return pe
}

// ToTree turns obj, a decoded wire map of structure shape sh, into a structure tree. Members the shape does not
// have are ignored, and so are nulls, which the protocols use for "absent".
func (l Leaves) ToTree(sh *wire.Shape, obj map[string]any) (map[string]any, error) {
	tree := make(map[string]any, len(obj))
	for _, m := range sh.Members {
		v, ok := obj[l.Key(m)]
		if !ok || v == nil {
			continue
		}
		tv, err := l.toTree(m, v)
		if err != nil {
			return nil, under(m.Name, err)
		}
		tree[m.Name] = tv
	}
	return tree, nil
}

func (l Leaves) toTree(m *wire.Member, v any) (any, error) {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, typeError("structure", v)
		}
		return l.ToTree(sh, obj)
	case wire.TypeList:
		in, ok := v.([]any)
		if !ok {
			return nil, typeError("list", v)
		}
		out := make([]any, len(in))
		for i, e := range in {
			if e == nil {
				continue // sparse lists keep their holes
			}
			tv, err := l.toTree(sh.Member, e)
			if err != nil {
				return nil, under("["+strconv.Itoa(i)+"]", err)
			}
			out[i] = tv
		}
		return out, nil
	case wire.TypeMap:
		in, ok := v.(map[string]any)
		if !ok {
			return nil, typeError("map", v)
		}
		out := make(map[string]any, len(in))
		for k, e := range in {
			if e == nil {
				out[k] = nil
				continue
			}
			tv, err := l.toTree(sh.Value, e)
			if err != nil {
				return nil, under("["+strconv.Quote(k)+"]", err)
			}
			out[k] = tv
		}
		return out, nil
	}
	return l.Decode(m, v)
}

// FromTree turns a structure tree of shape sh into the protocol's map. Tree keys that are not members of sh are
// dropped: the wire carries only what the model names.
func (l Leaves) FromTree(sh *wire.Shape, tree map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(tree))
	for _, m := range sh.Members {
		v, ok := tree[m.Name]
		if !ok || v == nil {
			continue
		}
		wv, err := l.fromTree(m, v)
		if err != nil {
			return nil, under(m.Name, err)
		}
		out[l.Key(m)] = wv
	}
	return out, nil
}

func (l Leaves) fromTree(m *wire.Member, v any) (any, error) {
	sh := m.Shape
	switch sh.Type {
	case wire.TypeStructure:
		t, ok := v.(map[string]any)
		if !ok {
			return nil, typeError("structure", v)
		}
		return l.FromTree(sh, t)
	case wire.TypeList:
		in, ok := v.([]any)
		if !ok {
			return nil, typeError("list", v)
		}
		out := make([]any, len(in))
		for i, e := range in {
			if e == nil {
				continue
			}
			wv, err := l.fromTree(sh.Member, e)
			if err != nil {
				return nil, under("["+strconv.Itoa(i)+"]", err)
			}
			out[i] = wv
		}
		return out, nil
	case wire.TypeMap:
		in, ok := v.(map[string]any)
		if !ok {
			return nil, typeError("map", v)
		}
		out := make(map[string]any, len(in))
		for k, e := range in {
			if e == nil {
				out[k] = nil
				continue
			}
			wv, err := l.fromTree(sh.Value, e)
			if err != nil {
				return nil, under("["+strconv.Quote(k)+"]", err)
			}
			out[k] = wv
		}
		return out, nil
	}
	return l.Encode(m, v)
}

func typeError(want string, got any) error {
	return fmt.Errorf("expected %s, found %s", want, describe(got))
}

// describe names a decoded value's kind the way a client author thinks of it, for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []byte:
		return "a byte string"
	}
	return fmt.Sprintf("a %T", v)
}

// TypeError is the error a Leaves function returns for a leaf of the wrong kind.
func TypeError(m *wire.Member, got any) error { return typeError(m.Shape.Type, got) }

// ReadBody reads a request body, undoing a gzip Content-Encoding: clients compress large bodies on their own
// (CloudWatch PutMetricData carries the requestCompression trait), and the signature covers the compressed bytes,
// so the codec is the first place that may look inside them.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var body io.Reader = r.Body
	for _, enc := range strings.Split(r.Header.Get("Content-Encoding"), ",") {
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			zr, err := gzip.NewReader(body)
			if err != nil {
				return nil, err
			}
			defer zr.Close()
			body = zr
		}
	}
	return io.ReadAll(body)
}

// Document copies a decoded document value into the tree's form: lists and maps are copied as they nest, and
// number turns the protocol's decoded numbers into float64, the one number type the tree convention holds in
// a document. Every other value is kept as it came.
func Document(v any, number func(v any) (float64, bool)) any {
	if f, ok := number(v); ok {
		return f
	}
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Document(e, number)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Document(e, number)
		}
		return out
	}
	return v
}
