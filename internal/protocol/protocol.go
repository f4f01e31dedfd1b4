// Package protocol defines what a wire codec is. Each sub-package implements one AWS protocol (ec2, query,
// awsjson, restjson, restxml, rpcv2cbor) from the generated models alone: it turns an HTTP request into the
// operation's input value tree, and an output tree or an error into the HTTP response exactly as botocore and
// aws-sdk-go-v2 expect. Codecs know nothing about services, compute, identity or storage.
package protocol

import (
	"net/http"

	"github.com/overcast-cloud/overcast/api/wire"
)

// Codec is one protocol's request decoder and response encoder.
type Codec interface {
	// DecodeRequest reads op's input from r into a structure tree (see wire/tree.go). For operations with a
	// streaming payload the payload member holds r.Body unread. A malformed request returns a *DecodeError.
	DecodeRequest(op *wire.Operation, r *http.Request) (map[string]any, error)
	// EncodeResponse writes op's output tree with the request id where the protocol puts it.
	EncodeResponse(w http.ResponseWriter, op *wire.Operation, out map[string]any, requestID string) error
	// EncodeError writes e in the protocol's error envelope.
	EncodeError(w http.ResponseWriter, svc *wire.Service, e *Error, requestID string)
}

// Error is an error answer, already mapped to its wire code and HTTP status.
type Error struct {
	Code    string      // the wire code: "NoSuchEntity", "InvalidInstanceID.NotFound", "AccessDenied"
	Message string      // the message; protocols put it under "Message" or "message" as the shape says
	Status  int         // the HTTP status
	Sender  bool        // a client (Sender) fault rather than a server (Receiver) fault
	Shape   *wire.Shape // the modeled exception, when the code names one of the service's shapes
	// Type is the shape name of the modeled exception when it differs from Code (IAM's NoSuchEntityException
	// is known on the wire as NoSuchEntity); JSON protocols put it in __type, query-compatible ones put Code
	// in x-amzn-query-error.
	Type   string
	Fields map[string]any // further members of the exception, by member name
}

// HTTPStatus is e's status, defaulting by fault when the mapping left it unset: 400 for the sender's, 500 for
// the service's.
func (e *Error) HTTPStatus() int {
	switch {
	case e.Status != 0:
		return e.Status
	case e.Sender:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// DecodeError is a request the codec could not read. The gateway answers it with the protocol's
// serialization or validation error.
type DecodeError struct {
	Code    string // an AWS code when the protocol has a specific one, else empty
	Message string
	Err     error
}

func (e *DecodeError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *DecodeError) Unwrap() error { return e.Err }
