// Package xmlenc writes and reads the XML bodies of AWS's XML query protocols (ec2, query) by
// walking a wire.Shape alongside a value tree (see api/wire/tree.go). The writer appends straight into one
// byte buffer without reflection or encoding/xml, because a DescribeInstances answer is hundreds of elements
// and every response pays for it. The reader is shape-driven the way botocore's parser is: element names select
// members, repeated elements of a flattened member aggregate, and unknown elements are skipped.
//
// The package knows element naming and list and map layout; scalar text forms are the scalar package's. It
// knows nothing about envelopes (…Response, …Result, request ids, error bodies): those belong to each
// protocol's codec.
//
// restxml shares the element naming rules (ElementName, ListItemName, MapKeyNames) but keeps its own reader and
// writer, because S3's XML differs in what clients see: list items are read under any name (as botocore reads
// them), members can be attributes and namespaces can carry prefixes, and text is escaped as encoding/xml does.
package xmlenc

import (
	"sync"
	"unicode/utf8"
)

// Prolog is the XML declaration AWS puts before every XML body.
const Prolog = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// Writer appends XML to a buffer. Element names come from models and are written as given; text is escaped.
type Writer struct {
	buf []byte
}

var writers = sync.Pool{New: func() any { return &Writer{buf: make([]byte, 0, 4096)} }}

// NewWriter returns an empty writer from a pool; Release gives it back once its bytes have been written out.
func NewWriter() *Writer {
	w := writers.Get().(*Writer)
	w.buf = w.buf[:0]
	return w
}

// Release returns w to the pool. w and its Bytes must not be used afterwards.
func (w *Writer) Release() {
	if cap(w.buf) > 1<<20 { // don't let one huge answer pin a megabyte buffer forever
		return
	}
	writers.Put(w)
}

// Bytes is what has been written so far.
func (w *Writer) Bytes() []byte { return w.buf }

// Len is the number of bytes written so far, for Truncate.
func (w *Writer) Len() int { return len(w.buf) }

// Truncate drops what was written after the first n bytes, undoing a partly written element.
func (w *Writer) Truncate(n int) { w.buf = w.buf[:n] }

// Prolog writes the XML declaration.
func (w *Writer) Prolog() { w.buf = append(w.buf, Prolog...) }

// Open writes <name> and returns a mark that Close uses to turn an element left empty into <name/>.
func (w *Writer) Open(name string) int {
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
	return len(w.buf)
}

// OpenNS writes <name xmlns="ns">, or <name> when ns is empty.
func (w *Writer) OpenNS(name, ns string) int {
	if ns == "" {
		return w.Open(name)
	}
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ` xmlns="`...)
	w.buf = appendEscaped(w.buf, ns, true)
	w.buf = append(w.buf, `">`...)
	return len(w.buf)
}

// Close writes </name>. When nothing was written since the Open that returned mark, the open tag is rewritten
// as <name/> instead, which is how AWS writes an empty list or structure.
func (w *Writer) Close(name string, mark int) {
	if len(w.buf) == mark {
		w.buf = append(w.buf[:mark-1], '/', '>')
		return
	}
	w.buf = append(w.buf, '<', '/')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

// Empty writes <name/>.
func (w *Writer) Empty(name string) {
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '/', '>')
}

// Element writes <name>text</name> with text escaped, or <name/> when text is empty.
func (w *Writer) Element(name, text string) {
	if text == "" {
		w.Empty(name)
		return
	}
	w.Open(name)
	w.buf = appendEscaped(w.buf, text, false)
	w.buf = append(w.buf, '<', '/')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

// Text writes escaped character data.
func (w *Writer) Text(s string) { w.buf = appendEscaped(w.buf, s, false) }

// plainText marks the ASCII bytes that appendEscaped copies as they are in text and attributes alike.
var plainText = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '&' && c != '<' && c != '>' && c != '"'
	}
	return t
}()

// appendEscaped escapes s as XML character data (or attribute text). Carriage returns are written as
// references because an XML parser would otherwise normalise "\r\n" to "\n" and the client would see a
// different string. Characters XML 1.0 cannot carry at all (most C0 controls, invalid UTF-8) become U+FFFD,
// as encoding/xml does, so the body always parses.
func appendEscaped(b []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainText[c] { // most bytes of most values: skip the cases below
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || r == 0xFFFE || r == 0xFFFF {
				b = append(b, s[last:i]...)
				b = append(b, "\uFFFD"...)
				last = i + size
			}
			i += size
			continue
		}
		var esc string
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '\r':
			esc = "&#xD;"
		case c == '"' && attr:
			esc = "&quot;"
		case c == '\n' && attr:
			esc = "&#xA;"
		case c == '\t' && attr:
			esc = "&#x9;"
		case c < 0x20 && c != '\n' && c != '\t':
			esc = "\uFFFD"
		default:
			i++
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i++
		last = i
	}
	return append(b, s[last:]...)
}
