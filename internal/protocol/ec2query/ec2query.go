// Package ec2query is the codec of EC2's own protocol ("ec2" in botocore): query-style form parameters with
// EC2's key rules in (read by the query package under query.EC2Naming), and XML out as
// <OpResponse xmlns=…><requestId>…</requestId>…members…</OpResponse>, with errors in EC2's
// <Response><Errors><Error>… envelope. It knows the EC2 model and nothing about instances or networks.
package ec2query

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/query"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc"
)

// Error codes of requests this codec cannot read, as EC2 names them.
const (
	CodeMalformedQueryString  = "MalformedQueryString"
	CodeInvalidParameterValue = "InvalidParameterValue"
)

type codec struct{}

// New returns the ec2 protocol codec.
func New() protocol.Codec { return codec{} }

// DecodeRequest reads op's input from the request's form (POST body and query string alike).
func (codec) DecodeRequest(op *wire.Operation, r *http.Request) (map[string]any, error) {
	if err := r.ParseForm(); err != nil {
		return nil, &protocol.DecodeError{Code: CodeMalformedQueryString, Message: "The query string is malformed", Err: err}
	}
	if op.Input == nil {
		return map[string]any{}, nil
	}
	in, err := query.DecodeForm(op.Input.Shape, r.Form, query.EC2Naming)
	if err != nil {
		var fe *query.FieldError
		if errors.As(err, &fe) {
			return nil, &protocol.DecodeError{
				Code:    CodeInvalidParameterValue,
				Message: fmt.Sprintf("Value (%s) for parameter %s is invalid: it %s", fe.Value, fe.Key, fe.Reason),
				Err:     err,
			}
		}
		return nil, &protocol.DecodeError{Code: CodeInvalidParameterValue, Message: "The request's parameters could not be read", Err: err}
	}
	return in, nil
}

// EncodeResponse writes <OpResponse xmlns=…><requestId>…</requestId> and the output members directly inside.
// Lists are <name><item>…</item></name> by the EC2 model's member locationNames, an empty list is still written
// (<reservationSet/>) because the SDKs distinguish it from an absent one, and absent members are left out.
func (codec) EncodeResponse(w http.ResponseWriter, op *wire.Operation, out map[string]any, requestID string) error {
	xw := xmlenc.NewWriter()
	defer xw.Release()
	xw.Prolog()
	resp := op.Name + "Response"
	mark := xw.OpenNS(resp, Namespace(op.Service))
	xw.Element("requestId", requestID)
	if op.Output != nil {
		out = withEmptyLists(op.Output.Shape, out)
		if err := xw.WriteMembers(op.Output.Shape, out); err != nil {
			return fmt.Errorf("ec2query: encoding %s output: %w", op.Name, err)
		}
	}
	xw.Close(resp, mark)
	query.WriteXML(w, http.StatusOK, requestID, xw.Bytes())
	return nil
}

// withEmptyLists gives every absent top-level list of an output an empty value: EC2 always writes its result
// sets (<reservationSet/>, <imagesSet/>), and clients tell "none" from "not answered" by it (the AWS CLI prints
// {"InstanceStatuses": []}, not nothing).
func withEmptyLists(sh *wire.Shape, out map[string]any) map[string]any {
	var filled map[string]any
	for _, m := range sh.Members {
		if m.Shape.Type != wire.TypeList {
			continue
		}
		if _, ok := out[m.Name]; ok {
			continue
		}
		if filled == nil {
			filled = make(map[string]any, len(out)+1)
			for k, v := range out {
				filled[k] = v
			}
		}
		filled[m.Name] = []any{}
	}
	if filled == nil {
		return out
	}
	return filled
}

// EncodeError writes EC2's error envelope, which has no namespace, nests Error in Errors and spells the request
// id RequestID.
func (codec) EncodeError(w http.ResponseWriter, svc *wire.Service, e *protocol.Error, requestID string) {
	xw := xmlenc.NewWriter()
	defer xw.Release()
	xw.Prolog()
	mark := xw.Open("Response")
	errs := xw.Open("Errors")
	em := xw.Open("Error")
	xw.Element("Code", e.Code)
	xw.Element("Message", e.Message)
	xw.Close("Error", em)
	xw.Close("Errors", errs)
	xw.Element("RequestID", requestID)
	xw.Close("Response", mark)
	query.WriteXML(w, e.HTTPStatus(), requestID, xw.Bytes())
}

// Namespace is the xmlns of EC2 responses. The model spells it without the trailing slash that EC2 itself
// writes ("http://ec2.amazonaws.com/doc/2016-11-15/"), so the slash is added.
func Namespace(svc *wire.Service) string {
	ns := ""
	if svc != nil {
		ns = svc.XMLNamespace
		if ns == "" && svc.APIVersion != "" {
			ns = "http://ec2.amazonaws.com/doc/" + svc.APIVersion
		}
	}
	if ns != "" && !strings.HasSuffix(ns, "/") {
		ns += "/"
	}
	return ns
}
