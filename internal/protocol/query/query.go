// Package query is the codec of the AWS query protocol ("query" in botocore, awsQuery in Smithy) spoken by
// IAM, STS, Auto Scaling, Elastic Load Balancing v2 and CloudWatch's query mode: form-encoded parameters in,
// XML out (<OpResponse><OpResult>…</OpResult><ResponseMetadata>…</ResponseMetadata></OpResponse>).
//
// It also owns the reading of query forms for the ec2 codec, whose protocol is a dialect of this one (see
// Naming). It knows the models and nothing about the services behind them.
package query

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc"
)

// Error codes of requests this codec cannot read.
const (
	CodeMalformedQueryString = "MalformedQueryString" // the form itself does not parse
	CodeValidationError      = "ValidationError"      // a parameter's value does not parse as its type
)

// HeaderRequestID carries the request id on every response, beside the one in the body.
const HeaderRequestID = "x-amzn-RequestId"

type codec struct{}

// New returns the query protocol codec.
func New() protocol.Codec { return codec{} }

// DecodeRequest reads op's input from the request's form (POST body and query string alike).
func (codec) DecodeRequest(op *wire.Operation, r *http.Request) (map[string]any, error) {
	if err := r.ParseForm(); err != nil {
		return nil, &protocol.DecodeError{Code: CodeMalformedQueryString, Message: "The request's parameters could not be parsed", Err: err}
	}
	if op.Input == nil {
		return map[string]any{}, nil
	}
	in, err := DecodeForm(op.Input.Shape, r.Form, QueryNaming)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, &protocol.DecodeError{
				Code:    CodeValidationError,
				Message: fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member %s", fe.Value, fe.Key, fe.Reason),
				Err:     err,
			}
		}
		return nil, &protocol.DecodeError{Code: CodeValidationError, Message: "The request's parameters could not be read", Err: err}
	}
	return in, nil
}

// EncodeResponse writes <OpResponse xmlns=…>, the output members inside the output's result wrapper (directly
// inside the response element when the model names none), and the request id in ResponseMetadata.
func (codec) EncodeResponse(w http.ResponseWriter, op *wire.Operation, out map[string]any, requestID string) error {
	xw := xmlenc.NewWriter()
	defer xw.Release()
	xw.Prolog()
	resp := op.Name + "Response"
	mark := xw.OpenNS(resp, Namespace(op.Service))
	if op.Output != nil {
		if wrapper := op.Output.ResultWrapper; wrapper != "" {
			rm := xw.Open(wrapper)
			if err := xw.WriteMembers(op.Output.Shape, out); err != nil {
				return fmt.Errorf("query: encoding %s output: %w", op.Name, err)
			}
			xw.Close(wrapper, rm)
		} else if err := xw.WriteMembers(op.Output.Shape, out); err != nil {
			return fmt.Errorf("query: encoding %s output: %w", op.Name, err)
		}
	}
	meta := xw.Open("ResponseMetadata")
	xw.Element("RequestId", requestID)
	xw.Close("ResponseMetadata", meta)
	xw.Close(resp, mark)
	WriteXML(w, http.StatusOK, requestID, xw.Bytes())
	return nil
}

// EncodeError writes <ErrorResponse><Error><Type/><Code/><Message/>…</Error><RequestId/></ErrorResponse>, with
// the modeled exception's further members inside Error where botocore's parser looks for them.
func (codec) EncodeError(w http.ResponseWriter, svc *wire.Service, e *protocol.Error, requestID string) {
	xw := xmlenc.NewWriter()
	defer xw.Release()
	xw.Prolog()
	mark := xw.OpenNS("ErrorResponse", Namespace(svc))
	em := xw.Open("Error")
	if e.Sender {
		xw.Element("Type", "Sender")
	} else {
		xw.Element("Type", "Receiver")
	}
	xw.Element("Code", e.Code)
	xw.Element("Message", e.Message)
	writeErrorFields(xw, e)
	xw.Close("Error", em)
	xw.Element("RequestId", requestID)
	xw.Close("ErrorResponse", mark)
	WriteXML(w, e.HTTPStatus(), requestID, xw.Bytes())
}

// writeErrorFields writes the members of e's modeled exception found in e.Fields, except Code and Message,
// which every error envelope already carries. A field that does not fit its shape is left out rather than
// turning an error answer into a failure to answer.
func writeErrorFields(xw *xmlenc.Writer, e *protocol.Error) {
	if e.Shape == nil || len(e.Fields) == 0 {
		return
	}
	for _, m := range e.Shape.Members {
		v, ok := e.Fields[m.Name]
		if !ok || v == nil || strings.EqualFold(m.Name, "message") || strings.EqualFold(m.Name, "code") {
			continue
		}
		before := xw.Len()
		if err := xw.WriteValue(m, xmlenc.ElementName(m), v); err != nil {
			xw.Truncate(before)
		}
	}
}

// WriteXML sends an XML body with the headers both XML query dialects use.
func WriteXML(w http.ResponseWriter, status int, requestID string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if requestID != "" {
		h.Set(HeaderRequestID, requestID)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that went away is not an error of ours
}

// Namespace is the xmlns of svc's responses: the model's xmlNamespace, or the one AWS derives from the
// endpoint prefix and API version when the model has none.
func Namespace(svc *wire.Service) string {
	if svc == nil {
		return ""
	}
	if svc.XMLNamespace != "" {
		return svc.XMLNamespace
	}
	if svc.EndpointPrefix == "" || svc.APIVersion == "" {
		return ""
	}
	return "https://" + svc.EndpointPrefix + ".amazonaws.com/doc/" + svc.APIVersion + "/"
}
