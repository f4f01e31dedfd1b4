// Package gateway is Overcast's one front door. For every request on the port it detects the service and the
// operation, verifies the signature, resolves the principal, account and region, enforces IAM, decodes the
// input with the protocol's codec, calls the service, and encodes the answer or maps the error. It owns no
// AWS semantics of its own beyond that.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/gateway/sigv4"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/regions"
)

// maxBufferedBody bounds the bodies the gateway reads whole (everything but streaming payloads). Lambda's
// CreateFunction with a base64 zip is the largest AWS allows, about 70 MB.
const maxBufferedBody = 80 << 20

// Identity is what the gateway needs of IAM and STS.
type Identity interface {
	Credentials(ctx context.Context, accessKeyID string) (*iam.Credential, error)
	PoliciesFor(ctx context.Context, p *awsctx.Principal) (identity []*policy.Policy, session *policy.Policy, err error)
	PrincipalTags(ctx context.Context, p *awsctx.Principal) (map[string]string, error)
	// NoteKeyUse records that an access key signed a request, for GetAccessKeyLastUsed.
	NoteKeyUse(accessKeyID, service, region string)
}

// Config wires a Gateway.
type Config struct {
	Registry *Registry
	Identity Identity
	Clock    func() time.Time
	Logger   *slog.Logger
}

// Gateway is the http.Handler for every AWS service.
type Gateway struct {
	verifier *sigv4.Verifier
	reg      *Registry
	id       Identity
	clock    func() time.Time
	log      *slog.Logger
}

// New returns a Gateway.
func New(cfg Config) *Gateway {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Gateway{reg: cfg.Registry, id: cfg.Identity, clock: cfg.Clock, log: cfg.Logger,
		verifier: sigv4.New(secrets{cfg.Identity})}
}

// Call is one request on its way through the gateway.
type Call struct {
	R         *http.Request
	W         http.ResponseWriter
	Binding   *Binding
	Protocol  string
	Op        *wire.Operation
	RequestID string
	Body      []byte
	Principal *awsctx.Principal
	Region    string
	Now       time.Time

	pathStyle     *url.URL // an S3 virtual-hosted request's URL in path style
	virtualBucket string   // the bucket a virtual-hosted S3 request names in its Host
}

// ServeHTTP runs the request through the pipeline.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &Call{R: r, W: w, Now: g.clock()}
	defer func() {
		// A bug in one handler must not take the connection down with it: the client gets the protocol's
		// internal error, and the log gets the stack.
		if p := recover(); p != nil {
			g.log.Error("panic serving request", "service", bindingName(c), "operation", opName(c), "panic", p, "stack", string(debug.Stack()))
			g.fail(c, &apierr.Error{Class: apierr.Internal, Message: "We encountered an internal error. Please try again."})
		}
	}()
	if err := g.route(c); err != nil {
		g.fail(c, err)
		return
	}
	c.RequestID = newRequestID(c.Binding.Model.Name)
	if err := g.authenticate(c); err != nil {
		g.fail(c, err)
		return
	}
	req := &awsctx.Request{
		Account: c.Principal.Account, Region: c.Region, RequestID: c.RequestID, Principal: c.Principal,
		SourceIP: sourceIP(r), Secure: r.TLS != nil, Time: c.Now,
	}
	ctx := awsctx.With(r.Context(), req)
	codec := c.Binding.Codecs[c.Protocol]
	in, err := codec.DecodeRequest(c.Op, r)
	if err != nil {
		g.fail(c, decodeFailure(c, err))
		return
	}
	if err := validate(c, in); err != nil {
		g.fail(c, err)
		return
	}
	if err := g.authorize(ctx, c, in); err != nil {
		g.fail(c, err)
		return
	}
	out, err := g.invoke(ctx, c, in)
	if err != nil {
		g.fail(c, err)
		return
	}
	if err := codec.EncodeResponse(w, c.Op, out, c.RequestID); err != nil {
		g.log.Error("encoding response", "service", c.Binding.Model.Name, "operation", c.Op.Name, "err", err)
	}
}

// invoke moves the input tree into the typed input, calls the service and turns the typed output into a tree.
func (g *Gateway) invoke(ctx context.Context, c *Call, in map[string]any) (map[string]any, error) {
	h, ok := c.Binding.Handlers[c.Op.Name]
	if !ok {
		return nil, wire.NotImplemented(c.Binding.Model.Name, c.Op.Name)
	}
	typed := h.NewInput()
	if c.Op.Input != nil {
		if err := wire.ToTyped(c.Op.Input.Shape, in, typed); err != nil {
			return nil, apierr.InvalidParam("", "%v", err)
		}
	}
	res, err := h.Invoke(ctx, typed)
	if err != nil {
		return nil, err
	}
	if c.Op.Output == nil {
		return map[string]any{}, nil
	}
	return wire.FromTyped(c.Op.Output.Shape, res), nil
}

// fail writes err in the call's protocol, or as plain text when not even the service is known.
func (g *Gateway) fail(c *Call, err error) {
	if c.RequestID == "" {
		name := ""
		if c.Binding != nil {
			name = c.Binding.Model.Name
		}
		c.RequestID = newRequestID(name)
	}
	if c.Binding == nil {
		http.Error(c.W, err.Error(), http.StatusBadRequest)
		return
	}
	// Drain what is left of a body we did not read, so that the client sees the answer rather than a reset.
	if c.R.Body != nil {
		_, _ = io.CopyN(io.Discard, c.R.Body, 1<<20)
	}
	perr := toWire(c.Binding.Model, c.Protocol, err)
	if perr.Status >= 500 {
		g.log.Error("request failed", "service", c.Binding.Model.Name, "operation", opName(c), "request_id", c.RequestID, "err", err)
	}
	c.Binding.Codecs[c.Protocol].EncodeError(c.W, c.Binding.Model, perr, c.RequestID)
}

func bindingName(c *Call) string {
	if c.Binding == nil {
		return ""
	}
	return c.Binding.Model.Name
}

func opName(c *Call) string {
	if c.Op == nil {
		return ""
	}
	return c.Op.Name
}

// bufferBody reads the body whole, unless the operation streams its payload.
func (g *Gateway) bufferBody(c *Call) error {
	if c.Body != nil || (c.Op != nil && streamsInput(c.Op)) {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(c.R.Body, maxBufferedBody+1))
	if err != nil {
		return apierr.InvalidParam("", "reading request body: %v", err)
	}
	if len(data) > maxBufferedBody {
		return apierr.InvalidParam("", "request body exceeds %d bytes", maxBufferedBody)
	}
	c.Body = data
	c.R.Body = io.NopCloser(bytes.NewReader(data))
	return nil
}

func streamsInput(op *wire.Operation) bool {
	if op.Input == nil || op.Input.Shape.Payload == "" {
		return false
	}
	m, _, ok := op.Input.Shape.MemberByName(op.Input.Shape.Payload)
	return ok && m.Shape.Type == wire.TypeBlob && (m.Streaming || m.Shape.Streaming)
}

// authenticate verifies the signature and resolves the principal and region.
func (g *Gateway) authenticate(c *Call) error {
	if err := g.bufferBody(c); err != nil {
		return err
	}
	slot := &credSlot{}
	ctx := context.WithValue(c.R.Context(), credSlotKey{}, slot)
	body := c.Body
	if body == nil && !streamsInput(c.Op) {
		body = []byte{}
	}
	res, err := g.verifier.Verify(ctx, sigv4.Input{Request: c.R, Body: body, VirtualBucket: c.virtualBucket}, time.Now())
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			code, status := se.AWSCode(c.Binding.Model.Name, c.Protocol)
			return &apierr.Error{Class: apierr.Unauthenticated, Code: code, Message: se.AWSMessage(c.Binding.Model.Name, c.Protocol), Status: status}
		}
		return err
	}
	if slot.cred == nil || slot.cred.Principal == nil {
		return apierr.New(apierr.Unauthenticated, "", "The security token included in the request is invalid.")
	}
	if res.Payload != nil {
		c.Body = res.Payload
		c.R.Body = io.NopCloser(bytes.NewReader(res.Payload))
	}
	if c.pathStyle != nil {
		c.R.URL = c.pathStyle
	}
	c.Principal = slot.cred.Principal
	c.Region = res.Region
	if c.Region == "" || c.Region == "aws-global" {
		c.Region = awsctx.DefaultRegion
	}
	if !regions.Valid(c.Region) {
		return apierr.New(apierr.Unauthenticated, invalidRegionCode(c), "The region '%s' is not a commercial AWS region that Overcast serves.", c.Region)
	}
	if c.Principal.Type == "User" && c.Principal.SessionToken == "" {
		g.id.NoteKeyUse(res.AccessKeyID, c.Binding.IAMPrefix, c.Region)
	}
	return nil
}

func invalidRegionCode(c *Call) string {
	switch familyOf(c.Protocol) {
	case famEC2:
		return "AuthFailure"
	case famS3:
		return "AuthorizationHeaderMalformed"
	case famJSON:
		return "UnrecognizedClientException"
	}
	return "InvalidClientTokenId"
}

// credSlot keeps, for one request, the credential the verifier looked up, so that the principal is resolved
// by the same read that gave the secret.
type credSlot struct{ cred *iam.Credential }

type credSlotKey struct{}

// secrets adapts Identity to the verifier.
type secrets struct{ id Identity }

func (s secrets) SecretFor(ctx context.Context, accessKeyID string) (string, string, error) {
	cred, err := s.id.Credentials(ctx, accessKeyID)
	switch {
	case errors.Is(err, iam.ErrExpired):
		return "", "", sigv4.ErrTokenExpired
	case errors.Is(err, iam.ErrUnknownKey):
		return "", "", sigv4.ErrUnknownKey
	case err != nil:
		return "", "", err
	}
	if slot, ok := ctx.Value(credSlotKey{}).(*credSlot); ok {
		slot.cred = cred
	}
	return cred.Secret, cred.SessionToken, nil
}

func decodeFailure(c *Call, err error) error {
	var de *protocol.DecodeError
	if !errors.As(err, &de) {
		return err
	}
	code := de.Code
	if code == "" {
		switch familyOf(c.Protocol) {
		case famEC2:
			code = "InvalidParameterValue"
		case famQuery:
			code = "MalformedInput"
		case famS3:
			code = "MalformedXML"
		default:
			code = "SerializationException"
		}
	}
	return &apierr.Error{Class: apierr.Invalid, Code: code, Message: de.Error()}
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// unknownOperation is AWS's answer to an action or path no operation has.
func unknownOperation(proto, name string) error {
	switch familyOf(proto) {
	case famQuery, famEC2:
		return &apierr.Error{Class: apierr.Invalid, Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", name)}
	case famS3:
		return &apierr.Error{Class: apierr.Invalid, Code: "MethodNotAllowed", Message: "The specified method is not allowed against this resource.", Status: 405}
	case famRESTJSON:
		return &apierr.Error{Class: apierr.Invalid, Code: "UnknownOperationException", Message: "Unknown operation " + name, Status: 404}
	}
	return &apierr.Error{Class: apierr.Invalid, Code: "UnknownOperationException", Message: "Unknown operation " + strings.TrimSpace(name)}
}
