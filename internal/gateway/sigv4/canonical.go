package sigv4

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// This file builds the parts of the SigV4 canonical request. Everything appends into one byte buffer: this
// runs for every request, and the canonical request is hashed, never kept.

const upperhex = "0123456789ABCDEF"

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// appendEscaped appends s URI-encoded as SigV4 defines it: every byte but the unreserved ones (and '/' when
// keepSlash) as %XX with upper-case hex.
func appendEscaped(b []byte, s string, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// isCanonical reports whether s is already in SigV4's encoding: unreserved bytes and upper-case %XX escapes
// of bytes that are not unreserved (and '/' when keepSlash). Then re-encoding would give s back, and the common
// case costs no allocation.
func isCanonical(s string, keepSlash bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case unreserved(c), keepSlash && c == '/':
		case c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]):
			d, _ := unhex(s[i+1])
			e, _ := unhex(s[i+2])
			if x := d<<4 | e; unreserved(x) || keepSlash && x == '/' {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// canonicalComponent is one query name or value in SigV4's encoding. A '+' is a space, as in form encoding:
// clients encode a plus as %2B, and a bare '+' can only have meant a space.
func canonicalComponent(raw string) string {
	if isCanonical(raw, false) {
		return raw
	}
	dec, err := url.QueryUnescape(raw)
	if err != nil {
		dec = raw // an invalid escape is signed as sent; re-encode its bytes
	}
	return string(appendEscaped(make([]byte, 0, len(dec)+8), dec, false))
}

// param is one name=value pair of the raw query string.
type param struct {
	rawKey, rawValue string
	eq               bool   // the pair had an '=': SigV2 signs "uploads" and "uploads=" differently
	key, value       string // canonical encodings, filled by appendCanonicalQuery
}

// parseQuery splits a raw query into its pairs without decoding them.
func parseQuery(raw string, into []param) []param {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, eq := strings.Cut(part, "=")
		into = append(into, param{rawKey: k, rawValue: v, eq: eq})
	}
	return into
}

// lookup returns the decoded value of the first parameter named name (names of auth parameters are plain
// ASCII, so the raw name is compared).
func lookup(params []param, name string) (string, bool) {
	for i := range params {
		if params[i].rawKey == name {
			v := params[i].rawValue
			if strings.ContainsAny(v, "%+") {
				if d, err := url.QueryUnescape(v); err == nil {
					return d, true
				}
			}
			return v, true
		}
	}
	return "", false
}

// appendCanonicalQuery appends the canonical query string: pairs encoded, then sorted by name and value
// (sorting after encoding, as SigV4 says), leaving out the parameter named skip.
func appendCanonicalQuery(b []byte, params []param, skip string) []byte {
	n := 0
	for i := range params {
		p := &params[i]
		if skip != "" && p.rawKey == skip {
			continue
		}
		p.key, p.value = canonicalComponent(p.rawKey), canonicalComponent(p.rawValue)
		params[n], params[i] = params[i], params[n]
		n++
	}
	sorted := params[:n]
	slices.SortFunc(sorted, func(a, b param) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for i, p := range sorted {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.key...)
		b = append(b, '=')
		b = append(b, p.value...)
	}
	return b
}

// target is the path and query the client put on the request line: what it signed. The server's RequestURI
// is that line verbatim; a request built in-process has only URL.
func target(r *http.Request) (path, query string) {
	u := r.RequestURI
	if u == "" || u == "*" {
		path = r.URL.EscapedPath()
		if r.URL.Opaque != "" {
			path = r.URL.Opaque
			if strings.HasPrefix(path, "//") { // "//host/path" form, as the SDK's signer documents
				if i := strings.IndexByte(path[2:], '/'); i >= 0 {
					path = path[2+i:]
				} else {
					path = "/"
				}
			}
		}
		if path == "" {
			path = "/"
		}
		return path, r.URL.RawQuery
	}
	if u[0] != '/' { // absolute form: scheme://host/path
		if i := strings.Index(u, "://"); i >= 0 {
			u = u[i+3:]
			if j := strings.IndexAny(u, "/?"); j >= 0 {
				u = u[j:]
			} else {
				u = ""
			}
		}
	}
	path, query, _ = strings.Cut(u, "?")
	if path == "" {
		path = "/"
	}
	return path, query
}

// appendCanonicalPath appends the canonical URI. S3 signs the path exactly as sent; every other service
// signs the sent path encoded once more (so "%20" becomes "%2520"), as botocore and aws-sdk-go-v2 do.
func appendCanonicalPath(b []byte, path string, s3 bool) []byte {
	if s3 {
		return append(b, path...)
	}
	return appendEscaped(b, path, true)
}

// reencodedPath is path decoded and encoded in SigV4's encoding, for S3 clients that escape differently
// from what they sign; "" when that is path itself or path does not decode.
func reencodedPath(path string) string {
	if isCanonical(path, true) {
		return ""
	}
	dec, err := url.PathUnescape(path)
	if err != nil {
		return ""
	}
	re := string(appendEscaped(nil, dec, true))
	if re == path {
		return ""
	}
	return re
}

// headerValues finds a header by its lower-case name. Server requests hold canonical keys, so the canonical
// form is built on the stack and looked up directly.
func headerValues(h http.Header, lower string) []string {
	var buf [64]byte
	if len(lower) <= len(buf) {
		upper := true
		for i := 0; i < len(lower); i++ {
			c := lower[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
			upper = c == '-'
		}
		if v, ok := h[string(buf[:len(lower)])]; ok {
			return v
		}
	} else if v, ok := h[textproto.CanonicalMIMEHeaderKey(lower)]; ok {
		return v
	}
	for k, v := range h { // keys set into the map without canonicalizing
		if strings.EqualFold(k, lower) {
			return v
		}
	}
	return nil
}

// appendHeaderValue appends one header value trimmed, with runs of spaces inside collapsed to one.
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// appendCanonicalHeaders appends "name:value\n" for each signed header, in the order SignedHeaders names them.
// Go's server moves Host, and Transfer-Encoding out of the header map; they are read back from the request.
func appendCanonicalHeaders(b []byte, r *http.Request, signedHeaders string) []byte {
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		switch vals := headerValues(r.Header, name); {
		case vals != nil:
			for i, v := range vals {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendHeaderValue(b, v)
			}
		case name == "host":
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			b = appendHeaderValue(b, host)
		case name == "content-length" && r.ContentLength >= 0:
			b = appendInt(b, r.ContentLength)
		case name == "transfer-encoding":
			b = append(b, strings.Join(r.TransferEncoding, ",")...)
		}
		b = append(b, '\n')
	}
	return b
}

func appendInt(b []byte, n int64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
