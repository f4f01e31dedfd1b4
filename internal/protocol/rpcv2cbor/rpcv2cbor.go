// Package rpcv2cbor is the codec of Smithy RPC v2 CBOR, the protocol the newest aws-sdk-go-v2 CloudWatch client
// speaks: POST /service/<Service>/operation/<Operation> with a CBOR map keyed by member names, answered by a
// CBOR map, or by a "__type" envelope for an error. Routing by path belongs to the gateway; this package only
// reads and writes bodies and headers.
package rpcv2cbor

import (
	"errors"
	"net/http"
	"reflect"
	"strconv"

	"github.com/fxamacker/cbor/v2"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/jsonish"
)

const (
	// SerializationException is the code of every request body this codec cannot read.
	SerializationException = jsonish.SerializationException
	// ProtocolHeader and ProtocolName mark every request and answer of the protocol.
	ProtocolHeader = "Smithy-Protocol"
	ProtocolName   = "rpc-v2-cbor"
	// ContentType is the media type of non-empty bodies.
	ContentType = "application/cbor"
)

// Codec implements protocol.Codec for Smithy RPC v2 CBOR.
type Codec struct{}

var _ protocol.Codec = Codec{}

var leaves = jsonish.Leaves{Key: memberKey, Decode: decodeLeaf, Encode: encodeLeaf}

// memberKey is the member's model name: RPC v2 ignores jsonName and XML names alike.
func memberKey(m *wire.Member) string { return m.Name }

var (
	decMode = mustDecMode(cbor.DecOptions{
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
		IntDec:           cbor.IntDecConvertNone,
		IndefLength:      cbor.IndefLengthAllowed,
		TimeTag:          cbor.DecTagOptional,
		TimeTagToAny:     cbor.TimeTagToTime,
		MaxNestedLevels:  256,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 20,
	})
	encMode = mustEncMode(cbor.EncOptions{
		// Sorted keys make answers byte-for-byte reproducible; floats keep their declared width so both
		// botocore and smithy-go read them without surprises.
		Sort:          cbor.SortBytewiseLexical,
		ShortestFloat: cbor.ShortestFloatNone,
		Time:          cbor.TimeUnixDynamic,
		TimeTag:       cbor.EncTagRequired,
	})
)

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

// DecodeRequest reads the CBOR map in r's body into op's input tree. An empty body is an empty input.
func (Codec) DecodeRequest(op *wire.Operation, r *http.Request) (map[string]any, error) {
	return leaves.DecodeRequest(op, r, parseMap, "CBOR map")
}

// parseMap decodes a whole body as one CBOR map; an empty body, or a null, is the empty map.
func parseMap(body []byte) (map[string]any, error) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	var v any
	if err := decMode.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	switch obj := v.(type) {
	case map[string]any:
		return obj, nil
	case nil:
		return map[string]any{}, nil
	}
	return nil, errors.New("the top-level item is not a map")
}

// EncodeResponse writes op's output tree as a CBOR map. An operation whose model has no output answers with an
// empty body and no Content-Type, as the Smithy protocol tests require; one whose output is empty answers an
// empty map, which botocore needs in order to parse anything at all.
func (Codec) EncodeResponse(w http.ResponseWriter, op *wire.Operation, out map[string]any, requestID string) error {
	if op.Output == nil {
		write(w, http.StatusOK, requestID, nil)
		return nil
	}
	obj, err := leaves.FromTree(op.Output.Shape, out)
	if err != nil {
		return err
	}
	body, err := encMode.Marshal(obj)
	if err != nil {
		return err
	}
	write(w, http.StatusOK, requestID, body)
	return nil
}

// EncodeError writes e as a CBOR map {"__type": ..., "message": ...}, and x-amzn-query-error for
// awsQueryCompatible services such as CloudWatch.
func (Codec) EncodeError(w http.ResponseWriter, svc *wire.Service, e *protocol.Error, requestID string) {
	obj := leaves.ErrorBody(e)
	// CBOR clients match keys exactly. smithy-go reads an unmodeled error's message only from "message", and a
	// modeled one by the member name of its own model, which is "Message" for several CloudWatch exceptions and
	// even for some (ResourceNotFoundException) whose botocore shape has no message member at all. Carrying
	// both spellings serves every client; each ignores the key it does not know.
	if e.Message != "" {
		obj["message"] = e.Message
		if jsonish.MessageMember(e.Shape) == nil {
			obj["Message"] = e.Message
		}
	}
	body, err := encMode.Marshal(obj)
	if err != nil {
		body, _ = encMode.Marshal(map[string]any{"__type": jsonish.ErrorType(e), "message": e.Message})
	}
	jsonish.SetQueryErrorHeader(w.Header(), svc, e)
	write(w, e.HTTPStatus(), requestID, body)
}

func write(w http.ResponseWriter, status int, requestID string, body []byte) {
	h := w.Header()
	h.Set(ProtocolHeader, ProtocolName)
	if len(body) > 0 {
		h.Set("Content-Type", ContentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if requestID != "" {
		h.Set("x-amzn-RequestId", requestID)
	}
	w.WriteHeader(status)
	if len(body) > 0 {
		w.Write(body)
	}
}
