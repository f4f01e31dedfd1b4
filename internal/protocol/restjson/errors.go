package restjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
)

// EncodeError writes e as restJson1 does: the code in X-Amzn-ErrorType (which the SDKs read first), and a body
// with the message and the exception's other members.
func (c *Codec) EncodeError(w http.ResponseWriter, svc *wire.Service, e *protocol.Error, requestID string) {
	status := e.HTTPStatus()
	sh := e.Shape
	if sh == nil && svc != nil {
		sh, _ = svc.ErrorShape(e.Code)
	}
	fields := map[string]any{}
	for k, v := range e.Fields {
		fields[k] = v
	}
	// The message goes under the exception's own member name: Lambda's exceptions say "Message", Batch's
	// "message". An unmodeled error uses "message", which every SDK reads.
	msgKey := "message"
	if sh != nil {
		if _, _, ok := sh.MemberByName("Message"); ok {
			msgKey = "Message"
		}
		// Lambda's exceptions carry Type: "User" for a caller's mistake, "Service" for Lambda's own.
		if _, _, ok := sh.MemberByName("Type"); ok && fields["Type"] == nil {
			if e.Sender || status < 500 {
				fields["Type"] = "User"
			} else {
				fields["Type"] = "Service"
			}
		}
	}
	if e.Message != "" {
		fields[msgKey] = e.Message
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range httpbind.SortedKeys(fields) {
		if i > 0 {
			b.WriteByte(',')
		}
		writeField(&b, sh, k, fields[k])
	}
	b.WriteByte('}')
	h := w.Header()
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("X-Amzn-Errortype", e.Code)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// writeField writes one member of an exception: by its model when the shape has it, else as plain JSON, so a
// field the model lacks still reaches the client.
func writeField(b *bytes.Buffer, sh *wire.Shape, name string, v any) {
	if sh != nil {
		if m, _, ok := sh.MemberByName(name); ok {
			var one bytes.Buffer
			if err := writeValue(&one, m, v); err == nil {
				writeString(b, m.WireName())
				b.WriteByte(':')
				b.Write(one.Bytes())
				return
			}
		}
	}
	writeString(b, name)
	b.WriteByte(':')
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(fmt.Sprint(v))
	}
	b.Write(data)
}
