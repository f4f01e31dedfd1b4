package guestinit

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// parseYAML reads the block-style YAML that cloud-config files are written in: mappings, sequences (also
// of mappings and of sequences), flow sequences and mappings, plain and quoted scalars and | and > block
// scalars. Every scalar stays a string; the caller knows which keys mean numbers or booleans. Anchors,
// tags and multi-document streams are not supported: cloud-init's own examples do not use them.
func parseYAML(src string) (any, error) {
	p := &yamlParser{lines: strings.Split(strings.ReplaceAll(src, "\t", "    "), "\n")}
	p.skipBlank()
	if p.i >= len(p.lines) {
		return nil, nil
	}
	v, err := p.node(indentOf(p.lines[p.i]))
	if err != nil {
		return nil, err
	}
	p.skipBlank()
	if p.i < len(p.lines) {
		return nil, fmt.Errorf("line %d: unexpected %q", p.i+1, strings.TrimSpace(p.lines[p.i]))
	}
	return v, nil
}

type yamlParser struct {
	lines []string
	i     int
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// skipBlank moves past blank lines, comment lines and the document marker.
func (p *yamlParser) skipBlank() {
	for p.i < len(p.lines) {
		t := strings.TrimSpace(p.lines[p.i])
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return
		}
		p.i++
	}
}

// node parses the block node whose lines are indented by exactly indent.
func (p *yamlParser) node(indent int) (any, error) {
	line := p.lines[p.i]
	text := strings.TrimSpace(line)
	switch {
	case text == "-" || strings.HasPrefix(text, "- "):
		return p.sequence(indent)
	case keyColon(text) >= 0:
		return p.mapping(indent)
	default:
		p.i++
		return inlineValue(stripComment(text))
	}
}

func (p *yamlParser) sequence(indent int) (any, error) {
	out := []any{}
	for {
		p.skipBlank()
		if p.i >= len(p.lines) {
			return out, nil
		}
		line := p.lines[p.i]
		text := strings.TrimSpace(line)
		if indentOf(line) != indent || !(text == "-" || strings.HasPrefix(text, "- ")) {
			if indentOf(line) > indent {
				return nil, fmt.Errorf("line %d: bad indentation", p.i+1)
			}
			return out, nil
		}
		rest := strings.TrimLeft(strings.TrimPrefix(text, "-"), " ")
		if rest == "" || strings.HasPrefix(rest, "#") {
			p.i++
			p.skipBlank()
			if p.i >= len(p.lines) || indentOf(p.lines[p.i]) <= indent {
				out = append(out, nil)
				continue
			}
			v, err := p.node(indentOf(p.lines[p.i]))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		// The item's content starts on the dash's line: blank the dash out and parse it as a block
		// indented to where the content starts, so "- key: v" continues with the item's other keys.
		col := len(line) - len(rest)
		p.lines[p.i] = strings.Repeat(" ", col) + rest
		v, err := p.node(col)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func (p *yamlParser) mapping(indent int) (any, error) {
	out := map[string]any{}
	for {
		p.skipBlank()
		if p.i >= len(p.lines) {
			return out, nil
		}
		line := p.lines[p.i]
		if indentOf(line) != indent {
			if indentOf(line) > indent {
				return nil, fmt.Errorf("line %d: bad indentation", p.i+1)
			}
			return out, nil
		}
		text := strings.TrimSpace(line)
		c := keyColon(text)
		if c < 0 {
			return out, nil
		}
		key, err := scalar(strings.TrimSpace(text[:c]))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", p.i+1, err)
		}
		rest := stripComment(strings.TrimSpace(text[c+1:]))
		p.i++
		switch {
		case rest == "":
			p.skipBlank()
			if p.i < len(p.lines) {
				next := p.lines[p.i]
				nt := strings.TrimSpace(next)
				// A sequence may sit at its key's own indentation.
				if indentOf(next) > indent || indentOf(next) == indent && (nt == "-" || strings.HasPrefix(nt, "- ")) {
					v, err := p.node(indentOf(next))
					if err != nil {
						return nil, err
					}
					out[key] = v
					continue
				}
			}
			out[key] = nil
		case rest[0] == '|' || rest[0] == '>':
			out[key] = p.blockScalar(rest, indent)
		default:
			v, err := inlineValue(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", p.i, err)
			}
			out[key] = v
		}
	}
}

// blockScalar reads the lines of a | or > scalar that follow its key.
func (p *yamlParser) blockScalar(header string, parent int) string {
	var lines []string
	block := -1
	for p.i < len(p.lines) {
		line := p.lines[p.i]
		if strings.TrimSpace(line) == "" {
			lines = append(lines, "")
			p.i++
			continue
		}
		ind := indentOf(line)
		if ind <= parent || block >= 0 && ind < block {
			break
		}
		if block < 0 {
			block = ind
		}
		lines = append(lines, line[block:])
		p.i++
	}
	// Trailing blank lines belong to chomping, not content.
	n := len(lines)
	for n > 0 && lines[n-1] == "" {
		n--
	}
	trailing := len(lines) - n
	lines = lines[:n]
	var s string
	if header[0] == '|' {
		s = strings.Join(lines, "\n")
	} else {
		var b strings.Builder
		for i, l := range lines {
			switch {
			case i == 0:
			case l == "" || lines[i-1] == "" || strings.HasPrefix(l, " "):
				b.WriteString("\n")
			default:
				b.WriteString(" ")
			}
			b.WriteString(l)
		}
		s = b.String()
	}
	switch {
	case strings.Contains(header, "-"):
	case strings.Contains(header, "+"):
		s += "\n" + strings.Repeat("\n", trailing)
	case s != "":
		s += "\n"
	}
	return s
}

// keyColon finds the colon that ends a mapping key on a line, or -1.
func keyColon(text string) int {
	if text == "" || text[0] == '[' || text[0] == '{' || text[0] == '#' {
		return -1
	}
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case (c == '"' || c == '\'') && i == 0:
			quote = c
		case c == '#' && i > 0 && text[i-1] == ' ':
			return -1
		case c == ':' && (i+1 == len(text) || text[i+1] == ' '):
			return i
		}
	}
	return -1
}

// stripComment removes a trailing " # comment" outside quotes and brackets.
func stripComment(text string) string {
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || text[i-1] == ' ' || text[i-1] == '\t'):
			return strings.TrimSpace(text[:i])
		}
	}
	return text
}

// inlineValue parses a value written on one line: a flow sequence or mapping, or a scalar.
func inlineValue(text string) (any, error) {
	switch {
	case strings.HasPrefix(text, "["):
		if !strings.HasSuffix(text, "]") {
			return nil, fmt.Errorf("unterminated flow sequence %q", text)
		}
		out := []any{}
		for _, part := range splitFlow(text[1 : len(text)-1]) {
			v, err := inlineValue(part)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case strings.HasPrefix(text, "{"):
		if !strings.HasSuffix(text, "}") {
			return nil, fmt.Errorf("unterminated flow mapping %q", text)
		}
		out := map[string]any{}
		for _, part := range splitFlow(text[1 : len(text)-1]) {
			c := keyColon(part)
			if c < 0 {
				return nil, fmt.Errorf("flow mapping entry %q has no key", part)
			}
			k, err := scalar(strings.TrimSpace(part[:c]))
			if err != nil {
				return nil, err
			}
			v, err := inlineValue(strings.TrimSpace(part[c+1:]))
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	default:
		return scalar(text)
	}
}

// splitFlow splits the inside of a flow collection at top-level commas.
func splitFlow(s string) []string {
	var parts []string
	var quote byte
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(s[start:]); last != "" {
		parts = append(parts, last)
	}
	return parts
}

// scalar unquotes a scalar. A plain scalar is taken as written; null and ~ are the empty string.
func scalar(text string) (string, error) {
	switch {
	case len(text) >= 2 && text[0] == '"' && text[len(text)-1] == '"':
		s, err := strconv.Unquote(text)
		if err != nil {
			return "", fmt.Errorf("bad double-quoted string %s", text)
		}
		return s, nil
	case len(text) >= 2 && text[0] == '\'' && text[len(text)-1] == '\'':
		return strings.ReplaceAll(text[1:len(text)-1], "''", "'"), nil
	case text == "~" || text == "null":
		return "", nil
	default:
		return text, nil
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
