package gateway

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

// validate applies the model's constraints to the top level of the input the way each protocol family's
// services do before any handler runs: EC2 reports the first missing parameter; query and JSON services
// collect every violation into one ValidationError ("1 validation error detected: ..."). S3 and the REST
// services leave validation to the handler, as their bindings already reject what is structurally missing.
func validate(c *Call, in map[string]any) error {
	if c.Op.Input == nil {
		return nil
	}
	sh := c.Op.Input.Shape
	switch familyOf(c.Protocol) {
	case famEC2:
		for _, name := range sh.Required {
			if _, ok := in[name]; !ok {
				m, _, _ := sh.MemberByName(name)
				wn := name
				if m != nil && m.QueryName != "" {
					wn = m.QueryName
				}
				return &apierr.Error{Class: apierr.Invalid, Code: "MissingParameter", Message: fmt.Sprintf("The request must contain the parameter %s", wn)}
			}
		}
		return nil
	case famQuery, famJSON:
	default:
		return nil
	}
	var problems []string
	for _, m := range sh.Members {
		v, present := in[m.Name]
		field := lowerFirst(m.Name)
		if !present {
			if sh.IsRequired(m.Name) {
				problems = append(problems, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", field))
			}
			continue
		}
		if s, ok := v.(string); ok && m.Shape.Type == wire.TypeString {
			n := utf8.RuneCountInString(s)
			switch {
			case m.Shape.Min != nil && float64(n) < *m.Shape.Min:
				problems = append(problems, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", s, field, int(*m.Shape.Min)))
			case m.Shape.Max != nil && float64(n) > *m.Shape.Max:
				problems = append(problems, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", s, field, int(*m.Shape.Max)))
			case m.Shape.Pattern != "" && !matchPattern(m.Shape.Pattern, s):
				problems = append(problems, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", s, field, m.Shape.Pattern))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	noun := "errors"
	if len(problems) == 1 {
		noun = "error"
	}
	code := "ValidationError"
	if familyOf(c.Protocol) == famJSON {
		code = "ValidationException"
	}
	return &apierr.Error{Class: apierr.Invalid, Code: code,
		Message: fmt.Sprintf("%d validation %s detected: %s", len(problems), noun, strings.Join(problems, "; "))}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// patterns caches the model's patterns compiled; AWS writes them for Java, and one that Go cannot compile is
// not enforced rather than guessed at.
var patterns sync.Map // string -> *regexp.Regexp (nil when it does not compile)

func matchPattern(p, s string) bool {
	v, ok := patterns.Load(p)
	if !ok {
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil {
			re = nil
		}
		v, _ = patterns.LoadOrStore(p, re)
	}
	re := v.(*regexp.Regexp)
	return re == nil || re.MatchString(s)
}
