// Package awsjson is the codec of the awsJson 1.0 and 1.1 protocols: ECS, ECR, CloudWatch Logs, EventBridge,
// and CloudWatch when a client picks JSON from its model's protocols (the AWS CLI does). A request is a POST of
// one JSON object keyed by member names; the answer is one JSON object, or a "__type" envelope for an error.
// Routing by X-Amz-Target belongs to the gateway; this package only reads and writes bodies and headers.
package awsjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/jsonish"
)

// SerializationException is the code of every request body this codec cannot read, as AWS's JSON services
// answer it.
const SerializationException = jsonish.SerializationException

// Codec implements protocol.Codec for awsJson 1.0 and 1.1; the version comes from each service's model.
type Codec struct{}

var _ protocol.Codec = Codec{}

var leaves = jsonish.Leaves{Key: (*wire.Member).WireName, Decode: decodeLeaf, Encode: encodeLeaf}

// ContentType is the media type of svc's requests and answers.
func ContentType(svc *wire.Service) string {
	v := "1.0"
	if svc != nil && svc.JSONVersion != "" {
		v = svc.JSONVersion
	}
	return "application/x-amz-json-" + v
}

// DecodeRequest reads the JSON object in r's body into op's input tree. An empty body is an empty input.
func (Codec) DecodeRequest(op *wire.Operation, r *http.Request) (map[string]any, error) {
	return leaves.DecodeRequest(op, r, parseObject, "JSON object")
}

// parseObject parses a whole body as one JSON object; blank and null bodies are the empty object. Numbers stay
// json.Number so integers keep every digit until their shape says what they are.
func parseObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	switch obj := v.(type) {
	case map[string]any:
		return obj, nil
	case nil:
		return map[string]any{}, nil
	}
	return nil, errors.New("the top-level value is not an object")
}

// EncodeResponse writes op's output tree as a JSON object; an operation without output answers "{}".
func (Codec) EncodeResponse(w http.ResponseWriter, op *wire.Operation, out map[string]any, requestID string) error {
	obj := map[string]any{}
	if op.Output != nil && out != nil {
		var err error
		if obj, err = leaves.FromTree(op.Output.Shape, out); err != nil {
			return err
		}
	}
	body, err := marshal(obj)
	if err != nil {
		return err
	}
	write(w, op.Service, http.StatusOK, requestID, body)
	return nil
}

// EncodeError writes e as {"__type": ..., "message": ...} with X-Amzn-ErrorType, which aws-sdk-go-v2 prefers
// over the body, and x-amzn-query-error for awsQueryCompatible services.
func (Codec) EncodeError(w http.ResponseWriter, svc *wire.Service, e *protocol.Error, requestID string) {
	body, err := marshal(leaves.ErrorBody(e))
	if err != nil {
		// Only unmodeled Fields of a kind JSON cannot hold get here; the code and message still must.
		body, _ = marshal(map[string]any{"__type": jsonish.ErrorType(e), "message": e.Message})
	}
	w.Header().Set("X-Amzn-ErrorType", jsonish.ErrorType(e))
	jsonish.SetQueryErrorHeader(w.Header(), svc, e)
	write(w, svc, e.HTTPStatus(), requestID, body)
}

func write(w http.ResponseWriter, svc *wire.Service, status int, requestID string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType(svc))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if requestID != "" {
		h.Set("x-amzn-RequestId", requestID)
	}
	w.WriteHeader(status)
	w.Write(body)
}

// marshal writes v without Go's HTML escaping, which AWS does not do and which would change strings such as
// policy documents byte for byte.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
