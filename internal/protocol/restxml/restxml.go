// Package restxml is the restXml codec (S3): operations are addressed by method and URI template, members are
// bound to the URI, query string, headers and status by httpbind, and the rest of the input or output is an XML
// document, or the payload member is the whole body (an object's bytes, streamed both ways).
//
// It owns the XML body forms, S3's root element names and namespace, and S3's error document. Routing and HTTP
// bindings belong to httpbind; virtual-hosted bucket addressing is rewritten to path style by the gateway.
package restxml

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc"
)

// Codec is the restXml protocol.Codec.
type Codec struct{}

// New returns the restXml codec.
func New() *Codec { return &Codec{} }

var _ protocol.Codec = (*Codec)(nil)

// maxBody bounds an XML body read into memory: S3's largest, a DeleteObjects of 1000 keys, is well below it.
const maxBody = 20 << 20

const prolog = xmlenc.Prolog

// DecodeRequest reads op's input from r: bound members by httpbind, then the XML document or the payload
// member. A streaming payload (PutObject's Body) is r.Body itself, unread.
func (c *Codec) DecodeRequest(op *wire.Operation, r *http.Request) (map[string]any, error) {
	tree := map[string]any{}
	if op.Input == nil {
		return tree, nil
	}
	if err := httpbind.DecodeBindings(op, r, tree); err != nil {
		var de *protocol.DecodeError
		if errors.As(err, &de) && de.Code == "" {
			de.Code = "InvalidArgument" // S3's answer to a header or parameter it cannot read
		}
		return nil, err
	}
	sh := op.Input.Shape
	p := httpbind.Payload(sh)
	if p != nil && httpbind.IsStreaming(p) {
		tree[p.Name] = httpbind.StreamingBody(r)
		return tree, nil
	}
	body, err := readBody(r)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return tree, err
	}
	if p != nil && p.Shape.Type != wire.TypeStructure {
		switch p.Shape.Type {
		case wire.TypeBlob:
			tree[p.Name] = body
		case wire.TypeString:
			tree[p.Name] = string(body)
		}
		return tree, nil
	}
	root, err := parseXML(bytes.NewReader(body))
	if err != nil {
		return nil, malformed(err)
	}
	if p != nil {
		v, err := decodeStruct(p.Shape, root, false)
		if err != nil {
			return nil, malformed(err)
		}
		tree[p.Name] = v
		return tree, nil
	}
	members, err := decodeStruct(sh, root, true)
	if err != nil {
		return nil, malformed(err)
	}
	for k, v := range members {
		tree[k] = v
	}
	return tree, nil
}

func readBody(r *http.Request) ([]byte, error) {
	return httpbind.ReadBody(r, maxBody, &protocol.DecodeError{Code: "MaxMessageLengthExceeded", Message: "Your request was too big."})
}

// malformed is S3's answer to a body that is not XML or not of the operation's shape.
func malformed(err error) *protocol.DecodeError {
	return &protocol.DecodeError{
		Code:    "MalformedXML",
		Message: "The XML you provided was not well-formed or did not validate against our published schema",
		Err:     err,
	}
}

// EncodeResponse writes op's output: bound members as headers, then the XML document or the payload. HEAD
// answers and 204s carry no body.
func (c *Codec) EncodeResponse(w http.ResponseWriter, op *wire.Operation, out map[string]any, requestID string) error {
	h := w.Header()
	setRequestID(h, requestID)
	status, err := httpbind.ResponseStatus(h, op, out)
	if err != nil {
		return err
	}
	if op.Output == nil {
		w.WriteHeader(status)
		return nil
	}
	sh := op.Output.Shape
	if status == http.StatusOK && h.Get("Content-Range") != "" {
		status = http.StatusPartialContent // a ranged GetObject
	}
	noBody := op.HTTPMethod == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified
	p := httpbind.Payload(sh)
	if p != nil && p.Shape.Type != wire.TypeStructure {
		return writeRawPayload(w, p, out[p.Name], status, noBody)
	}
	var doc writer
	if p != nil {
		if v, ok := out[p.Name].(map[string]any); ok {
			doc.WriteString(prolog)
			ns := namespace(p)
			if ns == nil {
				ns = defaultNamespace(op.Service)
			}
			if err := doc.writeStruct(payloadRoot(p), ns, p.Shape, v, false); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
		}
	} else if hasBody(sh, out) {
		doc.WriteString(prolog)
		if err := writeDocument(&doc, op, out); err != nil {
			return err
		}
	}
	if doc.Len() == 0 || noBody {
		w.WriteHeader(status)
		return nil
	}
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(doc.Len()))
	w.WriteHeader(status)
	_, err = w.Write(doc.Bytes())
	return err
}

// payloadRoot names the root of a structure payload: the member's locationName, the shape's, or its name.
func payloadRoot(p *wire.Member) string {
	if p.LocationName != "" {
		return p.LocationName
	}
	if p.Shape.LocationName != "" {
		return p.Shape.LocationName
	}
	return p.Shape.Name
}

func hasBody(sh *wire.Shape, out map[string]any) bool {
	for _, m := range sh.Members {
		if v, ok := out[m.Name]; ok && v != nil && httpbind.IsBodyMember(m) {
			return true
		}
	}
	return false
}

// writeDocument writes the body members of an output under its root element.
func writeDocument(doc *writer, op *wire.Operation, out map[string]any) error {
	sh := op.Output.Shape
	root := rootName(op)
	ns := namespace(op.Output)
	if ns == nil {
		ns = defaultNamespace(op.Service)
	}
	// GetBucketLocation's document is its one member as the root's text: <LocationConstraint>eu-west-1<…>.
	// botocore and aws-sdk-go-v2 read it that way, not as a child element.
	var body []*wire.Member
	for _, m := range sh.Members {
		if httpbind.IsBodyMember(m) {
			body = append(body, m)
		}
	}
	if len(body) == 1 && body[0].WireName() == root && body[0].Shape.Type == wire.TypeString {
		s, _ := out[body[0].Name].(string)
		doc.open(root, ns, nil, s == "")
		if s != "" {
			doc.text(s)
			doc.close(root)
		}
		return nil
	}
	return doc.writeStruct(root, ns, sh, out, true)
}

// writeRawPayload writes a blob or string payload as the body. A stream is copied and closed, never buffered;
// for HEAD it is only closed.
func writeRawPayload(w http.ResponseWriter, p *wire.Member, v any, status int, noBody bool) error {
	h := w.Header()
	if rc, ok := v.(io.ReadCloser); ok {
		defer rc.Close()
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "binary/octet-stream") // what S3 answers for an object stored without one
		}
		w.WriteHeader(status)
		if noBody {
			return nil
		}
		_, err := io.Copy(w, rc)
		return err
	}
	var data []byte
	switch b := v.(type) {
	case nil:
	case []byte:
		data = b
	case string:
		data = []byte(b)
	default:
		return fmt.Errorf("restxml: payload %s wants []byte, string or io.ReadCloser, got %T", p.Name, v)
	}
	if v != nil && h.Get("Content-Type") == "" {
		if p.Shape.Type == wire.TypeString {
			h.Set("Content-Type", "text/plain")
		} else {
			h.Set("Content-Type", "binary/octet-stream")
		}
	}
	if noBody || v == nil {
		w.WriteHeader(status)
		return nil
	}
	if h.Get("Content-Length") == "" {
		h.Set("Content-Length", strconv.Itoa(len(data)))
	}
	w.WriteHeader(status)
	_, err := w.Write(data)
	return err
}

// setRequestID sets S3's two request identifiers. x-amz-id-2 (the "host id") is derived from the request id
// so that the pair is stable in logs and tests.
func setRequestID(h http.Header, requestID string) {
	h.Set("X-Amz-Request-Id", requestID)
	h.Set("X-Amz-Id-2", hostID(requestID))
}

func hostID(requestID string) string {
	sum := sha256.Sum256([]byte("overcast-host-id/" + requestID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// EncodeError writes S3's error document:
//
//	<Error><Code>NoSuchKey</Code><Message>…</Message><Key>…</Key><RequestId>…</RequestId><HostId>…</HostId></Error>
//
// The further fields of the error (Key, BucketName, …) sit beside Code and Message. An answer to HEAD loses
// its body in net/http, which is what S3 does too: the client sees the status and headers only.
func (c *Codec) EncodeError(w http.ResponseWriter, svc *wire.Service, e *protocol.Error, requestID string) {
	status := e.HTTPStatus()
	sh := e.Shape
	if sh == nil && svc != nil {
		sh, _ = svc.ErrorShape(e.Code)
	}
	var doc writer
	doc.WriteString(prolog)
	doc.WriteString("<Error>")
	element(&doc, "Code", e.Code)
	element(&doc, "Message", e.Message)
	for _, k := range httpbind.SortedKeys(e.Fields) {
		if k == "Code" || k == "Message" || k == "RequestId" || k == "HostId" {
			continue
		}
		writeField(&doc, sh, k, e.Fields[k])
	}
	element(&doc, "RequestId", requestID)
	element(&doc, "HostId", hostID(requestID))
	doc.WriteString("</Error>")
	h := w.Header()
	setRequestID(h, requestID)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(doc.Len()))
	w.WriteHeader(status)
	w.Write(doc.Bytes())
}

func element(doc *writer, name, text string) {
	doc.open(name, nil, nil, false)
	doc.text(text)
	doc.close(name)
}

// writeField writes one further member of an error: by the exception's model when it has the member, else as
// text, so a field the model lacks (S3 models NoSuchBucket without BucketName) still reaches the client.
func writeField(doc *writer, sh *wire.Shape, name string, v any) {
	if v == nil {
		return
	}
	if sh != nil {
		if m, _, ok := sh.MemberByName(name); ok {
			var one writer
			if err := one.writeValue(m, xmlenc.ElementName(m), v); err == nil {
				doc.Write(one.Bytes())
				return
			}
		}
	}
	element(doc, name, fmt.Sprint(v))
}
