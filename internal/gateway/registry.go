package gateway

import (
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
)

// Binding is one AWS service as the gateway serves it.
type Binding struct {
	Model    *wire.Service
	Handlers map[string]wire.Handler
	// Codecs by protocol name; the model's protocols that have a codec here are served.
	Codecs map[string]protocol.Codec
	// IAMPrefix is the service's prefix in IAM action names ("ec2", "elasticloadbalancing").
	IAMPrefix string
	// Resources names the ARNs an operation acts on, for IAM evaluation; nil means "*" always.
	Resources ResourceFunc
	// Actions overrides the IAM action of operations whose action is not named after them (S3).
	Actions map[string]string

	router *httpbind.Router
}

// ResourceFunc returns the resource ARNs that op acts on, from its decoded input.
type ResourceFunc func(c *Call, op *wire.Operation, in map[string]any) []string

// Registry indexes bindings by every way a request can name its service.
type Registry struct {
	bySigningName  map[string]*Binding
	byTargetPrefix map[string]*Binding
	byQueryVersion map[string]*Binding
	byName         map[string]*Binding
}

// NewRegistry indexes bs.
func NewRegistry(bs ...*Binding) *Registry {
	r := &Registry{
		bySigningName:  map[string]*Binding{},
		byTargetPrefix: map[string]*Binding{},
		byQueryVersion: map[string]*Binding{},
		byName:         map[string]*Binding{},
	}
	for _, b := range bs {
		m := b.Model
		r.byName[m.Name] = b
		r.bySigningName[m.SigningName] = b
		if m.TargetPrefix != "" {
			r.byTargetPrefix[m.TargetPrefix] = b
		}
		if b.Codecs[wire.ProtocolQuery] != nil || b.Codecs[wire.ProtocolEC2] != nil {
			r.byQueryVersion[m.APIVersion] = b
		}
		if m.Protocol == wire.ProtocolRESTJSON || m.Protocol == wire.ProtocolRESTXML {
			b.router = httpbind.NewRouter(m)
		}
		if b.IAMPrefix == "" {
			b.IAMPrefix = strings.ToLower(m.SigningName)
		}
	}
	return r
}

// Lookup returns the binding of the named service.
func (r *Registry) Lookup(name string) (*Binding, bool) {
	b, ok := r.byName[name]
	return b, ok
}
