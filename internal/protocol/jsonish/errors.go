package jsonish

import (
	"net/http"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

// ErrorType is what an error's "__type" says. Clients look the exception up by shape name (aws-sdk-go-v2's type
// registry keys on it after stripping any "namespace#"), so it is the modeled shape's name when there is one; an
// unmodeled error is known by its code alone.
func ErrorType(e *protocol.Error) string {
	switch {
	case e.Type != "":
		return e.Type
	case e.Shape != nil:
		return e.Shape.Name
	}
	return e.Code
}

// SetQueryErrorHeader sets x-amzn-query-error on the answers of services that moved off awsQuery
// (awsQueryCompatible, e.g. CloudWatch). Clients of those services keep reporting the old query code:
// botocore and aws-sdk-go-v2 both take "<code>;<Sender|Receiver>" from this header over __type as the error's
// code and fault, while __type still picks the modeled exception.
func SetQueryErrorHeader(h http.Header, svc *wire.Service, e *protocol.Error) {
	if svc == nil || !svc.AWSQueryCompatible || e.Code == "" {
		return
	}
	fault := "Receiver"
	if e.Sender {
		fault = "Sender"
	}
	h.Set("x-amzn-query-error", e.Code+";"+fault)
}

// MessageMember is the member of exception shape sh that carries the message ("message" or "Message" as the
// model spells it), or nil when the shape has none.
func MessageMember(sh *wire.Shape) *wire.Member {
	if sh == nil {
		return nil
	}
	for _, m := range sh.Members {
		if strings.EqualFold(m.Name, "message") && m.Shape.Type == wire.TypeString {
			return m
		}
	}
	return nil
}

// ErrorBody is the envelope of e as a protocol map: "__type", the message under the key the exception's shape
// gives it ("message" when unmodeled), and e's further fields by the shape's member names. Fields that do not
// fit the shape are dropped rather than failing the answer.
func (l Leaves) ErrorBody(e *protocol.Error) map[string]any {
	body := map[string]any{}
	if e.Shape != nil {
		tree := make(map[string]any, len(e.Fields)+1)
		for k, v := range e.Fields {
			tree[k] = v
		}
		if mm := MessageMember(e.Shape); mm != nil && e.Message != "" {
			tree[mm.Name] = e.Message
		}
		if out, err := l.FromTree(e.Shape, tree); err == nil {
			body = out
		} else if mm := MessageMember(e.Shape); mm != nil && e.Message != "" {
			body[l.Key(mm)] = e.Message
		}
	} else {
		for k, v := range e.Fields {
			body[k] = v
		}
	}
	if MessageMember(e.Shape) == nil && e.Message != "" {
		body["message"] = e.Message
	}
	body["__type"] = ErrorType(e)
	return body
}
