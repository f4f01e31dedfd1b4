package gateway

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

// route finds the service, protocol and operation of a request, from (in order) the X-Amz-Target header, the
// rpcv2 path, the signing name of the credential scope, the Action and Version of a query request, and REST
// path templates. A request that names no service is taken as S3, as AWS's one unsigned-by-default API.
func (g *Gateway) route(c *Call) error {
	r := c.R
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		i := strings.LastIndexByte(target, '.')
		if i > 0 {
			if b, ok := g.reg.byTargetPrefix[target[:i]]; ok && b.Codecs[wire.ProtocolJSON] != nil {
				c.Binding, c.Protocol = b, wire.ProtocolJSON
				return g.setOp(c, target[i+1:])
			}
		}
	}
	if strings.HasPrefix(r.URL.Path, "/service/") && r.Header.Get("Smithy-Protocol") != "" {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/service/"), "/")
		if len(parts) == 3 && parts[1] == "operation" {
			if b, ok := g.reg.byTargetPrefix[parts[0]]; ok && b.Codecs[wire.ProtocolRPCv2CBOR] != nil {
				c.Binding, c.Protocol = b, wire.ProtocolRPCv2CBOR
				return g.setOp(c, parts[2])
			}
		}
	}
	if name := signingName(r); name != "" {
		if b, ok := g.reg.bySigningName[name]; ok {
			c.Binding = b
			return g.routeWithin(c)
		}
	}
	if isForm(r) || r.URL.Query().Get("Action") != "" {
		if err := g.bufferBody(c); err != nil {
			return err
		}
		_ = r.ParseForm()
		if b, ok := g.reg.byQueryVersion[r.Form.Get("Version")]; ok {
			c.Binding = b
			return g.routeWithin(c)
		}
	}
	b, ok := g.reg.byName["s3"]
	if !ok {
		return apierr.InvalidParam("", "no service recognised in the request")
	}
	c.Binding = b
	return g.routeWithin(c)
}

// routeWithin finds the operation once the service is known.
func (g *Gateway) routeWithin(c *Call) error {
	b, r := c.Binding, c.R
	switch {
	case b.Codecs[wire.ProtocolEC2] != nil:
		c.Protocol = wire.ProtocolEC2
	case b.Codecs[wire.ProtocolQuery] != nil && (isForm(r) || r.URL.Query().Get("Action") != "" || b.Model.Protocol == wire.ProtocolQuery):
		c.Protocol = wire.ProtocolQuery
	case b.router != nil:
		c.Protocol = b.Model.Protocol
		match := r
		if b.Model.Name == "s3" {
			c.pathStyle, c.virtualBucket = virtualHostToPath(r)
			if c.pathStyle != nil {
				pathStyle := *r
				pathStyle.URL = c.pathStyle
				match = &pathStyle
			}
		}
		op, ok := b.router.MatchRequest(match)
		if !ok {
			c.Op = nil
			return unknownOperation(c.Protocol, r.Method+" "+r.URL.Path)
		}
		c.Op = op
		return nil
	default:
		c.Protocol = b.Model.Protocol
		return unknownOperation(c.Protocol, "")
	}
	if err := g.bufferBody(c); err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return apierr.InvalidParam("", "malformed form body: %v", err)
	}
	action := r.Form.Get("Action")
	if action == "" {
		if c.Protocol == wire.ProtocolEC2 {
			return &apierr.Error{Class: apierr.Invalid, Code: "MissingAction", Message: "The request must contain the parameter Action"}
		}
		return &apierr.Error{Class: apierr.Invalid, Code: "MissingAction", Message: "Missing Action"}
	}
	return g.setOp(c, action)
}

func (g *Gateway) setOp(c *Call, name string) error {
	op, ok := c.Binding.Model.Operations[name]
	if !ok {
		return unknownOperation(c.Protocol, name)
	}
	c.Op = op
	return nil
}

// signingName reads the service from a SigV4 credential scope, in the header or the query string; SigV2
// requests are S3's.
func signingName(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	cred := ""
	switch {
	case strings.HasPrefix(auth, "AWS4-HMAC-SHA256"):
		if i := strings.Index(auth, "Credential="); i >= 0 {
			cred = auth[i+len("Credential="):]
			if j := strings.IndexAny(cred, ", "); j >= 0 {
				cred = cred[:j]
			}
		}
	case strings.HasPrefix(auth, "AWS "):
		return "s3"
	default:
		q := r.URL.Query()
		if q.Get("AWSAccessKeyId") != "" && q.Get("Signature") != "" {
			return "s3"
		}
		cred = q.Get("X-Amz-Credential")
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

func isForm(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// virtualHostToPath rewrites a virtual-hosted S3 request (bucket.s3.<anything>, bucket.s3-<region>.<anything>
// or bucket.localhost) to path style, which is what the codec uses; it returns nil for a path-style request.
// The gateway swaps the URL in only after the signature, which covers the URL as the client sent it.
func virtualHostToPath(r *http.Request) (*url.URL, string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil {
		return nil, ""
	}
	bucket := ""
	if i := strings.Index(host, ".s3."); i > 0 {
		bucket = host[:i]
	} else if i := strings.Index(host, ".s3-"); i > 0 {
		bucket = host[:i]
	} else if strings.HasSuffix(host, ".localhost") {
		bucket = strings.TrimSuffix(host, ".localhost")
	}
	if bucket == "" || strings.HasPrefix(host, "s3.") {
		return nil, ""
	}
	u := *r.URL
	u.Path = "/" + bucket + r.URL.Path
	u.RawPath = "/" + url.PathEscape(bucket) + r.URL.EscapedPath()
	return &u, bucket
}
