// Package httpbind is the HTTP binding layer the two REST protocols (restjson, restxml) share: it routes a
// request to an operation by the model's URI templates, and moves the members bound to the URI, the query
// string, headers and the status code between HTTP and the value tree (see api/wire/tree.go). It also owns the
// text forms of scalars (timestamps, floats, blobs) those bindings use.
//
// The package knows nothing of bodies: each codec reads and writes its own JSON or XML. It never sees
// services, identity or virtual-hosted S3 addressing (the gateway rewrites that to path style first).
package httpbind

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
)

// Router finds the operation a REST request addresses.
type Router struct {
	byMethod map[string][]*route
}

type route struct {
	op  *wire.Operation
	tpl *template
	// requiredQuery and requiredHeaders are the query keys and headers of required input members. Operations
	// that share method and template (S3's PutObject, UploadPart, CopyObject) differ only in these.
	requiredQuery   []string
	requiredHeaders []string
}

// NewRouter indexes the operations of svc by method and URI template.
func NewRouter(svc *wire.Service) *Router {
	r := &Router{byMethod: map[string][]*route{}}
	for _, name := range svc.OperationNames() {
		op := svc.Operations[name]
		rt := &route{op: op, tpl: parseTemplate(op.RequestURI)}
		if op.Input != nil {
			sh := op.Input.Shape
			for _, m := range sh.Members {
				if !sh.IsRequired(m.Name) {
					continue
				}
				switch m.Location {
				case wire.LocationQueryString:
					if m.LocationName != "" {
						rt.requiredQuery = append(rt.requiredQuery, m.LocationName)
					}
				case wire.LocationHeader:
					rt.requiredHeaders = append(rt.requiredHeaders, m.WireName())
				}
			}
		}
		method := strings.ToUpper(op.HTTPMethod)
		r.byMethod[method] = append(r.byMethod[method], rt)
	}
	return r
}

// Match returns the operation that method, the escaped path and the query address. When several templates
// match, the most specific wins: more literal path segments, then more literal query keys, then more of its
// required query parameters present and fewer missing.
func (r *Router) Match(method, path string, query url.Values) (*wire.Operation, bool) {
	return r.match(method, path, query, nil)
}

// MatchRequest is Match that also weighs the required headers of operations that share a template, which is
// what tells S3's CopyObject (x-amz-copy-source) from PutObject.
func (r *Router) MatchRequest(req *http.Request) (*wire.Operation, bool) {
	return r.match(req.Method, req.URL.EscapedPath(), req.URL.Query(), req.Header)
}

func (r *Router) match(method, path string, query url.Values, header http.Header) (*wire.Operation, bool) {
	var (
		best      *route
		bestScore score
	)
	for _, rt := range r.byMethod[strings.ToUpper(method)] {
		if _, ok := rt.tpl.match(path, query); !ok {
			continue
		}
		s := rt.score(query, header)
		if best == nil || s.better(bestScore) {
			best, bestScore = rt, s
		}
	}
	if best == nil {
		return nil, false
	}
	return best.op, true
}

type score struct {
	literalSegments, literalQuery, present, missing int
}

func (s score) better(o score) bool {
	switch {
	case s.literalSegments != o.literalSegments:
		return s.literalSegments > o.literalSegments
	case s.literalQuery != o.literalQuery:
		return s.literalQuery > o.literalQuery
	case s.present != o.present:
		return s.present > o.present
	}
	return s.missing < o.missing
}

func (rt *route) score(query url.Values, header http.Header) score {
	s := score{literalSegments: rt.tpl.literals, literalQuery: len(rt.tpl.query)}
	for _, k := range rt.requiredQuery {
		if query.Has(k) {
			s.present++
		} else {
			s.missing++
		}
	}
	// Without headers to look at, a required header counts as missing: PutObject is likelier than CopyObject.
	for _, h := range rt.requiredHeaders {
		if header != nil && header.Get(h) != "" {
			s.present++
		} else {
			s.missing++
		}
	}
	return s
}

// PathLabels returns the URI labels of op's template in the escaped path, unescaped, by label name.
func PathLabels(op *wire.Operation, escapedPath string) (map[string]string, bool) {
	return parseTemplate(op.RequestURI).match(escapedPath, nil)
}

// LiteralQueryKeys returns the query keys op's template names literally ("uploads" of "?uploads"); they are
// part of the address, not input.
func LiteralQueryKeys(op *wire.Operation) []string {
	tpl := parseTemplate(op.RequestURI)
	keys := make([]string, len(tpl.query))
	for i, q := range tpl.query {
		keys[i] = q.key
	}
	return keys
}

// template is a parsed requestUri: "/{Bucket}/{Key+}?uploads".
type template struct {
	segments []segment
	greedy   bool // the last segment is a greedy label, which takes the rest of the path, slashes included
	literals int
	query    []queryLiteral
}

type segment struct {
	literal string
	label   string // the label name when the segment is "{Name}" or "{Name+}"
}

type queryLiteral struct {
	key, value string
	hasValue   bool
}

func parseTemplate(uri string) *template {
	path, rawQuery, _ := strings.Cut(uri, "?")
	t := &template{}
	for _, s := range splitPath(path) {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := s[1 : len(s)-1]
			if strings.HasSuffix(name, "+") {
				name = strings.TrimSuffix(name, "+")
				t.greedy = true
			}
			t.segments = append(t.segments, segment{label: name})
			continue
		}
		t.segments = append(t.segments, segment{literal: s})
		t.literals++
	}
	if rawQuery != "" {
		for _, kv := range strings.Split(rawQuery, "&") {
			k, v, has := strings.Cut(kv, "=")
			t.query = append(t.query, queryLiteral{key: k, value: v, hasValue: has})
		}
	}
	sort.Slice(t.query, func(i, j int) bool { return t.query[i].key < t.query[j].key })
	return t
}

// splitPath splits "/a/b/" into [a b]: a trailing slash does not make a segment, so "/2015-03-31/functions/"
// and "/2015-03-31/functions" are one address.
func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match matches an escaped path (and, when query is not nil, the literal query keys) and returns the labels.
func (t *template) match(path string, query url.Values) (map[string]string, bool) {
	for _, q := range t.query {
		if query == nil {
			break
		}
		if !query.Has(q.key) || (q.hasValue && query.Get(q.key) != q.value) {
			return nil, false
		}
	}
	rest := strings.TrimPrefix(path, "/")
	labels := map[string]string{}
	for i, seg := range t.segments {
		if t.greedy && i == len(t.segments)-1 {
			// The greedy label keeps a trailing slash: S3's "dir/" is a key of its own.
			if rest == "" {
				return nil, false
			}
			v, err := url.PathUnescape(rest)
			if err != nil {
				return nil, false
			}
			labels[seg.label] = v
			return labels, true
		}
		part, after, _ := strings.Cut(rest, "/")
		rest = after
		if seg.label == "" {
			if part != seg.literal {
				return nil, false
			}
			continue
		}
		if part == "" {
			return nil, false
		}
		v, err := url.PathUnescape(part)
		if err != nil {
			return nil, false
		}
		labels[seg.label] = v
	}
	if rest != "" {
		return nil, false
	}
	return labels, true
}
