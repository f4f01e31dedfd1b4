package policy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type family uint8

const (
	familyString family = iota
	familyNumeric
	familyDate
	familyBool
	familyBinary
	familyIP
	familyARN
	familyNull
)

type comparison uint8

const (
	cmpEqual comparison = iota
	cmpEqualFold
	cmpLike
	cmpLess
	cmpLessEqual
	cmpGreater
	cmpGreaterEqual
)

type setOperator uint8

const (
	setNone setOperator = iota
	setAnyValue
	setAllValues
)

// operator is a parsed condition operator name such as "ForAllValues:StringNotLikeIfExists".
type operator struct {
	family   family
	cmp      comparison
	negate   bool // the Not forms: true when no policy value matches
	set      setOperator
	ifExists bool
}

// operators are the base names, keyed in lower case: IAM's names, matched without regard to case.
var operators = func() map[string]operator {
	m := map[string]operator{}
	add := func(name string, f family, c comparison, negate bool) {
		m[strings.ToLower(name)] = operator{family: f, cmp: c, negate: negate}
	}
	add("StringEquals", familyString, cmpEqual, false)
	add("StringNotEquals", familyString, cmpEqual, true)
	add("StringEqualsIgnoreCase", familyString, cmpEqualFold, false)
	add("StringNotEqualsIgnoreCase", familyString, cmpEqualFold, true)
	add("StringLike", familyString, cmpLike, false)
	add("StringNotLike", familyString, cmpLike, true)
	for _, f := range []struct {
		prefix string
		family family
	}{{"Numeric", familyNumeric}, {"Date", familyDate}} {
		add(f.prefix+"Equals", f.family, cmpEqual, false)
		add(f.prefix+"NotEquals", f.family, cmpEqual, true)
		add(f.prefix+"LessThan", f.family, cmpLess, false)
		add(f.prefix+"LessThanEquals", f.family, cmpLessEqual, false)
		add(f.prefix+"GreaterThan", f.family, cmpGreater, false)
		add(f.prefix+"GreaterThanEquals", f.family, cmpGreaterEqual, false)
	}
	add("Bool", familyBool, cmpEqual, false)
	add("BinaryEquals", familyBinary, cmpEqual, false)
	add("IpAddress", familyIP, cmpEqual, false)
	add("NotIpAddress", familyIP, cmpEqual, true)
	add("ArnEquals", familyARN, cmpLike, false) // IAM matches ArnEquals with wildcards, exactly like ArnLike
	add("ArnLike", familyARN, cmpLike, false)
	add("ArnNotEquals", familyARN, cmpLike, true)
	add("ArnNotLike", familyARN, cmpLike, true)
	add("Null", familyNull, cmpEqual, false)
	return m
}()

var errOperator = errors.New("unknown condition operator")

func lookupOperator(name string) (operator, error) {
	var set setOperator
	if p, rest, ok := strings.Cut(name, ":"); ok {
		switch strings.ToLower(p) {
		case "foranyvalue":
			set = setAnyValue
		case "forallvalues":
			set = setAllValues
		default:
			return operator{}, errOperator
		}
		name = rest
	}
	lower := strings.ToLower(name)
	base, ifExists := strings.CutSuffix(lower, "ifexists")
	op, ok := operators[base]
	if !ok {
		return operator{}, errOperator
	}
	op.set, op.ifExists = set, ifExists
	return op, nil
}

// condition is a compiled Condition: one operator applied to one key.
type condition struct {
	key    string
	op     operator
	values []condValue
}

// condValue is one policy value, parsed for its operator's family. ok is false for a value that does not parse
// as the family's type (a number, date, address): such a value matches nothing.
type condValue struct {
	raw    string
	ok     bool
	pat    pattern // string family
	arn    arnPattern
	num    float64
	date   time.Time
	prefix netip.Prefix
	bin    []byte
}

// compileCondition prepares c. It returns nil for an unknown operator with nothing under it, which IAM accepts
// and which constrains nothing.
func compileCondition(c Condition, vars bool) *condition {
	op, err := lookupOperator(c.Operator)
	if err != nil {
		return nil
	}
	cc := &condition{key: c.Key, op: op}
	for _, raw := range c.Values {
		v := condValue{raw: raw, ok: true}
		switch op.family {
		case familyString:
			// Policy variables are substituted in string and ARN values only; * and ? are wildcards only
			// for the Like operators.
			v.pat = compilePattern(raw, op.cmp == cmpLike, vars)
		case familyARN:
			v.arn = compileARN(raw, vars)
		case familyNumeric:
			v.num, err = strconv.ParseFloat(raw, 64)
			v.ok = err == nil
		case familyDate:
			v.date, v.ok = parseDate(raw)
		case familyIP:
			v.prefix, v.ok = parsePrefix(raw)
		case familyBinary:
			v.bin, err = base64.StdEncoding.DecodeString(raw)
			v.ok = err == nil
		}
		cc.values = append(cc.values, v)
	}
	return cc
}

// holds evaluates the condition against the request, with AWS's rules for missing keys: a missing key makes a
// positive operator false and a negated one true; IfExists makes it true; ForAnyValue false; ForAllValues true
// (the empty set is a subset of anything). A request key with no values counts as missing.
func (c *condition) holds(r *Request) bool {
	vals := r.lookup(c.key)
	if c.op.family == familyNull {
		absent := len(vals) == 0
		for _, v := range c.values {
			if strings.EqualFold(v.raw, "true") == absent {
				return true
			}
		}
		return false
	}
	if len(vals) == 0 {
		switch {
		case c.op.ifExists, c.op.set == setAllValues:
			return true
		case c.op.set == setAnyValue:
			return false
		}
		return c.op.negate
	}
	switch c.op.set {
	case setAnyValue:
		for _, rv := range vals {
			m, ok := c.matchAny(rv, r)
			if !ok {
				return false
			}
			if m != c.op.negate {
				return true
			}
		}
		return false
	case setAllValues:
		for _, rv := range vals {
			m, ok := c.matchAny(rv, r)
			if !ok || m == c.op.negate {
				return false
			}
		}
		return true
	}
	// Without a set operator: true when some request value matches some policy value, and for the negated
	// operators when none does (values of a Not operator combine as NOR).
	for _, rv := range vals {
		m, ok := c.matchAny(rv, r)
		if !ok {
			return false
		}
		if m {
			return !c.op.negate
		}
	}
	return c.op.negate
}

// matchAny reports whether the request value rv matches one of the policy values. ok is false when a policy
// variable has no value, which makes the whole condition fail (AWS's rule for unresolvable variables).
func (c *condition) matchAny(rv string, r *Request) (matched, ok bool) {
	for i := range c.values {
		m, ok := c.values[i].match(c.op, rv, r)
		if !ok {
			return false, false
		}
		if m {
			return true, true
		}
	}
	return false, true
}

func (v *condValue) match(op operator, rv string, r *Request) (matched, ok bool) {
	if !v.ok {
		return false, true
	}
	switch op.family {
	case familyString:
		if op.cmp == cmpEqualFold {
			pv, ok := v.pat.text(r)
			return ok && strings.EqualFold(rv, pv), ok
		}
		return v.pat.match(rv, r)
	case familyARN:
		return v.arn.match(rv, r)
	case familyNumeric:
		n, err := strconv.ParseFloat(rv, 64)
		return err == nil && compare(op.cmp, n, v.num), true
	case familyDate:
		t, ok := parseDate(rv)
		return ok && compare(op.cmp, int64(t.Compare(v.date)), 0), true
	case familyBool:
		return strings.EqualFold(rv, v.raw), true
	case familyBinary:
		b, err := base64.StdEncoding.DecodeString(rv)
		return (err == nil && bytes.Equal(b, v.bin)) || rv == v.raw, true
	case familyIP:
		a, err := netip.ParseAddr(rv)
		return err == nil && v.prefix.Contains(a.Unmap()), true
	}
	return false, true
}

func compare[T int64 | float64](c comparison, a, b T) bool {
	switch c {
	case cmpLess:
		return a < b
	case cmpLessEqual:
		return a <= b
	case cmpGreater:
		return a > b
	case cmpGreaterEqual:
		return a >= b
	}
	return a == b
}

// parsePrefix reads an IpAddress value: a CIDR block, or a single address as its /32 or /128.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p, p.IsValid()
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// dateLayouts are the ISO 8601 forms IAM accepts, tried after an epoch number. Go's parser accepts fractional
// seconds after the seconds field of any layout.
var dateLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02T15Z07:00",
	"2006-01-02T15",
	"2006-01-02",
	"2006-01",
	"20060102T150405Z07:00",
	"20060102T150405",
}

// parseDate reads a date condition value or context value: seconds since the epoch (aws:EpochTime) or ISO 8601
// (aws:CurrentTime). A time without a zone is UTC.
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if isEpoch(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, false
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
	}
	s = strings.ToUpper(s) // IAM accepts 2024-01-01t00:00:00z
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// isEpoch says whether s is a number of seconds: digits, with at most one decimal point.
func isEpoch(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0:
			dot = true
		default:
			return false
		}
	}
	return true
}
