package httpbind

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/scalar"
)

// IsBodyMember reports whether m travels in the body rather than in the URI, query string, headers or status.
func IsBodyMember(m *wire.Member) bool { return m.Location == wire.LocationBody }

// Payload returns the member of sh that is the whole body, when the shape names one.
func Payload(sh *wire.Shape) *wire.Member {
	if sh == nil || sh.Payload == "" {
		return nil
	}
	m, _, _ := sh.MemberByName(sh.Payload)
	return m
}

// DecodeBindings reads every input member of op bound to the URI, the query string or headers from r into
// tree. A value that does not parse as its shape is a *protocol.DecodeError.
func DecodeBindings(op *wire.Operation, r *http.Request, tree map[string]any) error {
	if op.Input == nil {
		return nil
	}
	sh := op.Input.Shape
	labels, _ := PathLabels(op, r.URL.EscapedPath())
	query := r.URL.Query()
	// A query map without a locationName takes the parameters nothing else claims.
	claimed := map[string]bool{}
	for _, k := range LiteralQueryKeys(op) {
		claimed[k] = true
	}
	for _, m := range sh.Members {
		if m.Location == wire.LocationQueryString && m.LocationName != "" {
			claimed[m.LocationName] = true
		}
	}
	for _, m := range sh.Members {
		var (
			v   any
			ok  bool
			err error
		)
		switch m.Location {
		case wire.LocationURI:
			var s string
			if s, ok = labels[m.WireName()]; ok {
				v, err = ParseScalar(m, s)
			}
		case wire.LocationQueryString:
			v, ok, err = decodeQuery(m, query, claimed)
		case wire.LocationHeader:
			v, ok, err = decodeHeader(m, r.Header)
		case wire.LocationHeaders:
			v, ok = decodeHeaderMap(m, r.Header)
		default:
			continue
		}
		if err != nil {
			return &protocol.DecodeError{Message: fmt.Sprintf("%s (%s %q)", m.Name, m.Location, m.WireName()), Err: err}
		}
		if ok {
			tree[m.Name] = v
		}
	}
	return nil
}

func decodeQuery(m *wire.Member, query map[string][]string, claimed map[string]bool) (any, bool, error) {
	sh := m.Shape
	if sh.Type == wire.TypeMap {
		if m.LocationName != "" {
			return nil, false, nil // no model binds a named map to one parameter
		}
		out := map[string]any{}
		for k, vs := range query {
			if claimed[k] || len(vs) == 0 {
				continue
			}
			if sh.Value.Shape.Type == wire.TypeList {
				items := make([]any, len(vs))
				for i, s := range vs {
					items[i] = s
				}
				out[k] = items
			} else {
				out[k] = vs[0]
			}
		}
		return out, len(out) > 0, nil
	}
	vs, ok := query[m.WireName()]
	if !ok {
		return nil, false, nil
	}
	if sh.Type == wire.TypeList {
		items := make([]any, 0, len(vs))
		for _, s := range vs {
			v, err := ParseScalar(sh.Member, s)
			if err != nil {
				return nil, false, err
			}
			items = append(items, v)
		}
		return items, true, nil
	}
	if len(vs) == 0 {
		return nil, false, nil
	}
	v, err := ParseScalar(m, vs[0])
	return v, err == nil, err
}

func decodeHeader(m *wire.Member, h http.Header) (any, bool, error) {
	vs := h.Values(m.WireName())
	if len(vs) == 0 {
		return nil, false, nil
	}
	if m.Shape.Type == wire.TypeList {
		parts := SplitHeaderList(strings.Join(vs, ","), m.Shape.Member)
		items := make([]any, 0, len(parts))
		for _, s := range parts {
			v, err := ParseScalar(m.Shape.Member, s)
			if err != nil {
				return nil, false, err
			}
			items = append(items, v)
		}
		return items, true, nil
	}
	if m.JSONValue {
		// A jsonvalue header is base64 of the JSON text; the tree holds the JSON text.
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(vs[0]))
		if err != nil {
			return nil, false, fmt.Errorf("jsonvalue header is not base64: %w", err)
		}
		return string(b), true, nil
	}
	v, err := ParseScalar(m, vs[0])
	return v, err == nil, err
}

// decodeHeaderMap reads a prefix-bound map (S3's x-amz-meta-*). Keys are lower case: HTTP header names are
// case-insensitive and S3 stores and returns metadata keys in lower case.
func decodeHeaderMap(m *wire.Member, h http.Header) (any, bool) {
	prefix := strings.ToLower(m.LocationName)
	out := map[string]any{}
	for name, vs := range h {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, prefix) || len(vs) == 0 || len(lower) == len(prefix) {
			continue
		}
		out[lower[len(prefix):]] = strings.Join(vs, ",")
	}
	return out, len(out) > 0
}

// SplitHeaderList splits a comma-separated header list. Items may be double-quoted (to carry commas); HTTP
// dates contain a comma of their own, so a list of them splits at every second comma.
func SplitHeaderList(s string, item *wire.Member) []string {
	var parts []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ',' && !quoted:
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, strings.TrimSpace(cur.String()))
	if item != nil && item.Shape.Type == wire.TypeTimestamp && item.TimestampFormatOr(TimestampRFC822) == TimestampRFC822 {
		var dates []string
		for i := 0; i+1 < len(parts); i += 2 {
			dates = append(dates, parts[i]+", "+parts[i+1])
		}
		return dates
	}
	return parts
}

// EncodeBindings writes the output members of sh bound to headers into h and returns the status a statusCode
// member holds (0 when there is none).
func EncodeBindings(h http.Header, sh *wire.Shape, tree map[string]any) (int, error) {
	status := 0
	for _, m := range sh.Members {
		v, ok := tree[m.Name]
		if !ok || v == nil {
			continue
		}
		switch m.Location {
		case wire.LocationHeader:
			s, err := formatHeader(m, v)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", m.Name, err)
			}
			h.Set(m.WireName(), s)
		case wire.LocationHeaders:
			entries, ok := v.(map[string]any)
			if !ok {
				return 0, fmt.Errorf("%s: headers map wants map[string]any, got %T", m.Name, v)
			}
			for k, e := range entries {
				s, err := FormatScalar(m.Shape.Value, e, TimestampRFC822)
				if err != nil {
					return 0, fmt.Errorf("%s[%q]: %w", m.Name, k, err)
				}
				h.Set(m.LocationName+k, s)
			}
		case wire.LocationStatusCode:
			n, ok := scalar.AsInt(v)
			if !ok {
				return 0, fmt.Errorf("%s: status wants int64, got %T", m.Name, v)
			}
			status = int(n)
		}
	}
	return status, nil
}

func formatHeader(m *wire.Member, v any) (string, error) {
	if m.Shape.Type == wire.TypeList {
		items, ok := v.([]any)
		if !ok {
			return "", fmt.Errorf("list wants []any, got %T", v)
		}
		parts := make([]string, 0, len(items))
		for _, e := range items {
			s, err := FormatScalar(m.Shape.Member, e, TimestampRFC822)
			if err != nil {
				return "", err
			}
			// Quote items that would otherwise split; HTTP dates are read back in pairs instead.
			if m.Shape.Member.Shape.Type == wire.TypeString && strings.ContainsAny(s, `,"`) {
				s = strconv.Quote(s)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ", "), nil
	}
	if m.JSONValue {
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("jsonvalue wants the JSON text as a string, got %T", v)
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	}
	return FormatScalar(m, v, TimestampRFC822)
}

// SortedKeys returns the keys of a map tree in order, so bodies are deterministic.
func SortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
