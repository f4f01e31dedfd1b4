// Package restjson is the restJson1 codec (Lambda, Batch): operations are addressed by method and URI
// template, members are bound to the URI, query string, headers and status by httpbind, and the rest of the
// input or output is a JSON object (or, when the model names a payload member, that member is the whole body).
//
// It owns the JSON body forms and the error envelope of restJson1; routing and HTTP bindings belong to httpbind.
package restjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
)

// Codec is the restJson1 protocol.Codec.
type Codec struct{}

// New returns the restJson1 codec.
func New() *Codec { return &Codec{} }

var _ protocol.Codec = (*Codec)(nil)

// maxBody bounds a JSON body read into memory; Lambda's largest inline input (a 50 MB zip, base64) fits.
const maxBody = 80 << 20

// DecodeRequest reads op's input from r: bound members by httpbind, then the JSON body or the payload member.
func (c *Codec) DecodeRequest(op *wire.Operation, r *http.Request) (map[string]any, error) {
	tree := map[string]any{}
	if op.Input == nil {
		return tree, nil
	}
	if err := httpbind.DecodeBindings(op, r, tree); err != nil {
		return nil, err
	}
	sh := op.Input.Shape
	if p := httpbind.Payload(sh); p != nil {
		return tree, decodePayload(p, r, tree)
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return tree, nil
	}
	raw, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, serializationError(fmt.Errorf("the body is a JSON %s, not an object", jsonKind(raw)))
	}
	if err := decodeMembers(sh, obj, tree, 0); err != nil {
		return nil, serializationError(err)
	}
	return tree, nil
}

func decodePayload(p *wire.Member, r *http.Request, tree map[string]any) error {
	switch p.Shape.Type {
	case wire.TypeBlob:
		if httpbind.IsStreaming(p) {
			// The service reads the stream itself: an object or archive is never held in memory here.
			tree[p.Name] = httpbind.StreamingBody(r)
			return nil
		}
		body, err := readBody(r)
		if err != nil {
			return err
		}
		if len(body) > 0 {
			tree[p.Name] = body
		}
	case wire.TypeString:
		body, err := readBody(r)
		if err != nil {
			return err
		}
		if len(body) > 0 {
			tree[p.Name] = string(body)
		}
	case wire.TypeStructure, wire.TypeDocument:
		body, err := readBody(r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		raw, err := parseJSON(body)
		if err != nil {
			return err
		}
		if p.Shape.Type == wire.TypeDocument {
			tree[p.Name] = raw
			return nil
		}
		obj, ok := raw.(map[string]any)
		if !ok {
			return serializationError(fmt.Errorf("the body is a JSON %s, not an object", jsonKind(raw)))
		}
		// Clients send "{}" for an absent payload structure, so an empty object leaves the member absent.
		if len(obj) == 0 {
			return nil
		}
		v := map[string]any{}
		if err := decodeMembers(p.Shape, obj, v, 0); err != nil {
			return serializationError(err)
		}
		tree[p.Name] = v
	default:
		return fmt.Errorf("restjson: payload %s of type %s", p.Name, p.Shape.Type)
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	return httpbind.ReadBody(r, maxBody, &protocol.DecodeError{Code: "RequestEntityTooLargeException", Message: "the request body is too large"})
}

func parseJSON(body []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var raw any
	if err := d.Decode(&raw); err != nil {
		return nil, serializationError(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, serializationError(fmt.Errorf("data after the JSON value"))
	}
	return raw, nil
}

func serializationError(err error) *protocol.DecodeError {
	return &protocol.DecodeError{Code: "SerializationException", Message: "the request body is not valid JSON for the operation", Err: err}
}

// EncodeResponse writes op's output: bound members by httpbind, then the JSON body or the payload member.
func (c *Codec) EncodeResponse(w http.ResponseWriter, op *wire.Operation, out map[string]any, requestID string) error {
	h := w.Header()
	h.Set("X-Amzn-Requestid", requestID)
	status, err := httpbind.ResponseStatus(h, op, out)
	if err != nil {
		return err
	}
	if op.Output == nil {
		w.WriteHeader(status)
		return nil
	}
	sh := op.Output.Shape
	if p := httpbind.Payload(sh); p != nil && p.Shape.Type != wire.TypeStructure && p.Shape.Type != wire.TypeDocument {
		return writeRawPayload(w, p, out[p.Name], status)
	}
	var body []byte
	if p := httpbind.Payload(sh); p != nil {
		body, err = encodePayloadStruct(p, out[p.Name])
	} else {
		body, err = encodeBody(sh, out)
	}
	if err != nil {
		return err
	}
	h.Set("Content-Type", "application/json")
	if !bodyAllowed(status) {
		w.WriteHeader(status)
		return nil
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// bodyAllowed reports whether HTTP lets a response of this status carry a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

func encodeBody(sh *wire.Shape, out map[string]any) ([]byte, error) {
	var b bytes.Buffer
	if err := writeStruct(&b, sh, out, true); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodePayloadStruct(p *wire.Member, v any) ([]byte, error) {
	if v == nil {
		return []byte("{}"), nil
	}
	var b bytes.Buffer
	if err := writeValue(&b, p, v); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	return b.Bytes(), nil
}

// writeRawPayload writes a blob or string payload as the body. A stream is copied and closed, never buffered.
func writeRawPayload(w http.ResponseWriter, p *wire.Member, v any, status int) error {
	h := w.Header()
	if h.Get("Content-Type") == "" && v != nil {
		if p.Shape.Type == wire.TypeString {
			h.Set("Content-Type", "text/plain")
		} else {
			h.Set("Content-Type", "application/octet-stream")
		}
	}
	switch b := v.(type) {
	case nil:
		w.WriteHeader(status)
		return nil
	case io.ReadCloser:
		defer b.Close()
		w.WriteHeader(status)
		if !bodyAllowed(status) {
			return nil
		}
		_, err := io.Copy(w, b)
		return err
	case []byte:
		return writeBytes(w, status, b)
	case string:
		return writeBytes(w, status, []byte(b))
	}
	return fmt.Errorf("restjson: payload %s wants []byte, string or io.ReadCloser, got %T", p.Name, v)
}

func writeBytes(w http.ResponseWriter, status int, b []byte) error {
	if !bodyAllowed(status) {
		w.WriteHeader(status)
		return nil
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err
}
