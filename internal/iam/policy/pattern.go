package policy

import (
	"strings"
	"unicode/utf8"
)

// A pattern is policy text compiled once at Parse into tokens: literal text, the wildcards * and ?, and policy
// variables resolved per request. Matching walks the tokens without regular expressions.

type tokKind uint8

const (
	tokLit  tokKind = iota // text matched exactly
	tokStar                // any run of characters, possibly empty
	tokOne                 // exactly one character
	tokVar                 // ${key} or ${key, 'default'}: text comes from the request context
)

type token struct {
	kind   tokKind
	text   string // literal text, or the context key of a variable
	def    string // a variable's default value
	hasDef bool
}

// pattern is a compiled glob. The fast paths cover the shapes nearly every policy uses ("*", exact text, "prefix*").
type pattern struct {
	toks []token
	fast fastKind
	lit  string // the literal of the fast paths
	vars bool   // holds variables: resolve before matching
}

type fastKind uint8

const (
	fastNone   fastKind = iota // walk the tokens
	fastAll                    // "*"
	fastExact                  // literal text
	fastPrefix                 // "literal*"
)

// compilePattern tokenizes s. wild says whether * and ? are wildcards (StringLike, Resource) or plain text
// (StringEquals); vars says whether ${...} is a policy variable (Version 2012-10-17) or plain text.
func compilePattern(s string, wild, vars bool) pattern {
	var toks []token
	var lit strings.Builder // literal text not yet emitted
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, token{kind: tokLit, text: lit.String()})
			lit.Reset()
		}
	}
	for len(s) > 0 {
		if vars && strings.HasPrefix(s, "${") {
			if end := strings.IndexByte(s, '}'); end > 0 {
				body := s[2:end]
				s = s[end+1:]
				switch body {
				case "*", "?", "$":
					lit.WriteString(body) // escapes: the character itself, never a wildcard
				default:
					flush()
					toks = append(toks, parseVariable(body))
				}
				continue
			}
		}
		switch c := s[0]; {
		case wild && c == '*':
			flush()
			if n := len(toks); n == 0 || toks[n-1].kind != tokStar {
				toks = append(toks, token{kind: tokStar})
			}
		case wild && c == '?':
			flush()
			toks = append(toks, token{kind: tokOne})
		default:
			lit.WriteByte(c)
		}
		s = s[1:]
	}
	flush()
	return newPattern(toks)
}

// parseVariable reads the body of ${...}: a key, optionally followed by ", 'default'".
func parseVariable(body string) token {
	key, rest, found := strings.Cut(body, ",")
	t := token{kind: tokVar, text: strings.TrimSpace(key)}
	if found {
		rest = strings.TrimSpace(rest)
		if len(rest) >= 2 && rest[0] == '\'' && rest[len(rest)-1] == '\'' {
			t.def, t.hasDef = rest[1:len(rest)-1], true
		}
	}
	return t
}

func newPattern(toks []token) pattern {
	p := pattern{toks: toks}
	for _, t := range toks {
		if t.kind == tokVar {
			p.vars = true
			return p
		}
	}
	switch {
	case len(toks) == 0:
		p.fast = fastExact
	case len(toks) == 1 && toks[0].kind == tokStar:
		p.fast = fastAll
	case len(toks) == 1 && toks[0].kind == tokLit:
		p.fast, p.lit = fastExact, toks[0].text
	case len(toks) == 2 && toks[0].kind == tokLit && toks[1].kind == tokStar:
		p.fast, p.lit = fastPrefix, toks[0].text
	}
	return p
}

// match reports whether s matches. ok is false when a variable has no value in the request: AWS then treats the
// policy element as not matching, whatever the operator.
func (p *pattern) match(s string, r *Request) (matched, ok bool) {
	switch p.fast {
	case fastAll:
		return true, true
	case fastExact:
		return s == p.lit, true
	case fastPrefix:
		return strings.HasPrefix(s, p.lit), true
	}
	toks := p.toks
	if p.vars {
		var ok bool
		if toks, ok = resolve(toks, r); !ok {
			return false, false
		}
	}
	return matchTokens(toks, s), true
}

// text returns the pattern as plain text with variables resolved (for operators without wildcards).
func (p *pattern) text(r *Request) (string, bool) {
	if !p.vars {
		return p.lit, true
	}
	var b strings.Builder
	for _, t := range p.toks {
		switch t.kind {
		case tokVar:
			v, ok := variable(t, r)
			if !ok {
				return "", false
			}
			b.WriteString(v)
		case tokStar:
			b.WriteByte('*')
		case tokOne:
			b.WriteByte('?')
		default:
			b.WriteString(t.text)
		}
	}
	return b.String(), true
}

// resolve replaces variables by literal tokens. The substituted text is literal: a * in a tag value is not a
// wildcard.
func resolve(toks []token, r *Request) ([]token, bool) {
	out := make([]token, len(toks))
	for i, t := range toks {
		if t.kind == tokVar {
			v, ok := variable(t, r)
			if !ok {
				return nil, false
			}
			t = token{kind: tokLit, text: v}
		}
		out[i] = t
	}
	return out, true
}

func variable(t token, r *Request) (string, bool) {
	if r != nil {
		if vs := r.lookup(t.text); len(vs) > 0 {
			return vs[0], true
		}
	}
	return t.def, t.hasDef
}

// matchTokens is glob matching with backtracking to the last star: linear for the patterns policies use, and
// O(len(toks)*len(s)) at worst.
func matchTokens(toks []token, s string) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case tokStar:
				starTi, starSi = ti, si
				ti++
				continue
			case tokOne:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			default:
				if strings.HasPrefix(s[si:], t.text) {
					si += len(t.text)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		ti, si = starTi+1, starSi
	}
}

// arnPattern matches ARNs the way IAM does: the six colon-separated parts (arn, partition, service, region,
// account, resource) are matched one by one, so a wildcard never spans a colon except inside the resource part,
// which takes the rest of the ARN. A pattern of fewer parts ("arn:aws:s3:*") lets its last part take the rest;
// a pattern without a colon ("*") is matched against the whole string.
type arnPattern struct {
	parts []pattern
}

func compileARN(s string, vars bool) arnPattern {
	whole := compilePattern(s, true, vars)
	if whole.fast == fastAll {
		return arnPattern{parts: []pattern{whole}}
	}
	split := splitTokens(whole.toks, 6)
	parts := make([]pattern, len(split))
	for i, t := range split {
		parts[i] = newPattern(t)
	}
	return arnPattern{parts: parts}
}

// splitTokens splits tokens at the colons of literal text (never inside a variable's key, as in ${aws:username})
// into at most n groups, the last taking the rest.
func splitTokens(toks []token, n int) [][]token {
	var out [][]token
	var cur []token
	for _, t := range toks {
		if t.kind != tokLit || len(out) == n-1 {
			cur = append(cur, t)
			continue
		}
		text := t.text
		for len(out) < n-1 {
			i := strings.IndexByte(text, ':')
			if i < 0 {
				break
			}
			if i > 0 {
				cur = append(cur, token{kind: tokLit, text: text[:i]})
			}
			out = append(out, cur)
			cur = nil
			text = text[i+1:]
		}
		if text != "" {
			cur = append(cur, token{kind: tokLit, text: text})
		}
	}
	return append(out, cur)
}

func (a *arnPattern) match(s string, r *Request) (matched, ok bool) {
	last := len(a.parts) - 1
	for i := range a.parts {
		part := s
		if i < last {
			j := strings.IndexByte(s, ':')
			if j < 0 {
				return false, true // not an ARN: no part-by-part match
			}
			part, s = s[:j], s[j+1:]
		}
		if m, ok := a.parts[i].match(part, r); !m || !ok {
			return false, ok
		}
	}
	return true, true
}
