package jsonish

import (
	"net/http"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

// SerializationException is the code of every request a JSON-family codec cannot read.
const SerializationException = "SerializationException"

// DecodeRequest reads r's body with parse, which turns a whole body into one object (what names it for
// messages: "JSON object", "CBOR map"), and makes op's input tree of it. An empty body is an empty input.
func (l Leaves) DecodeRequest(op *wire.Operation, r *http.Request, parse func([]byte) (map[string]any, error), what string) (map[string]any, error) {
	body, err := ReadBody(r)
	if err != nil {
		return nil, &protocol.DecodeError{Code: SerializationException, Message: "could not read the request body", Err: err}
	}
	obj, err := parse(body)
	if err != nil {
		return nil, &protocol.DecodeError{Code: SerializationException, Message: "the request body is not a " + what, Err: err}
	}
	if op.Input == nil {
		return map[string]any{}, nil
	}
	tree, err := l.ToTree(op.Input.Shape, obj)
	if err != nil {
		return nil, &protocol.DecodeError{Code: SerializationException, Message: "the request body does not match " + op.Name + "'s input", Err: err}
	}
	return tree, nil
}
