package httpbind

import (
	"bytes"
	"io"
	"net/http"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

// IsStreaming reports whether payload member p is a stream (an object's bytes, a function's archive), which a
// codec hands over unread rather than holding in memory.
func IsStreaming(p *wire.Member) bool {
	return p.Shape.Type == wire.TypeBlob && (p.Streaming || p.Shape.Streaming)
}

// StreamingBody is the request body as a streaming payload member holds it: r.Body itself, unread, or an empty
// reader when the request has none, so the service always has something to read and close.
func StreamingBody(r *http.Request) io.ReadCloser {
	if r.Body == nil {
		return io.NopCloser(bytes.NewReader(nil))
	}
	return r.Body
}

// ReadBody reads a request body into memory, up to limit bytes; a longer one is refused with tooLarge, which
// carries the protocol's own code for it. A request without a body reads as empty.
func ReadBody(r *http.Request, limit int, tooLarge *protocol.DecodeError) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, &protocol.DecodeError{Message: "reading the request body", Err: err}
	}
	if len(body) > limit {
		return nil, tooLarge
	}
	return body, nil
}

// ResponseStatus writes the output members of op bound to headers into h and returns the response's status: a
// statusCode member's value, else the operation's modelled code, else 200.
func ResponseStatus(h http.Header, op *wire.Operation, out map[string]any) (int, error) {
	status := op.ResponseCode
	if status == 0 {
		status = http.StatusOK
	}
	if op.Output == nil {
		return status, nil
	}
	bound, err := EncodeBindings(h, op.Output.Shape, out)
	if err != nil {
		return 0, err
	}
	if bound != 0 {
		status = bound
	}
	return status, nil
}
