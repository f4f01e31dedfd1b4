package wire

import (
	"fmt"
	"sort"
)

// Spec is a service model as botocore writes it, less documentation. The generator emits one Spec literal per
// service; ParseBotocore reads one from JSON (the protocol conformance tests carry their own).
type Spec struct {
	Metadata   MetadataSpec
	Operations map[string]OperationSpec
	Shapes     map[string]ShapeSpec
}

// MetadataSpec is the model's metadata block.
type MetadataSpec struct {
	APIVersion         string   `json:"apiVersion"`
	EndpointPrefix     string   `json:"endpointPrefix"`
	SigningName        string   `json:"signingName"`
	ServiceID          string   `json:"serviceId"`
	TargetPrefix       string   `json:"targetPrefix"`
	JSONVersion        string   `json:"jsonVersion"`
	XMLNamespace       string   `json:"xmlNamespace"`
	Protocol           string   `json:"protocol"`
	Protocols          []string `json:"protocols"`
	AWSQueryCompatible bool     `json:"-"`
	GlobalEndpoint     bool     `json:"-"`
}

// OperationSpec is one entry of the model's operations.
type OperationSpec struct {
	HTTPMethod   string
	RequestURI   string
	ResponseCode int
	HostPrefix   string
	Input        *RefSpec
	Output       *RefSpec
	Errors       []string
}

// RefSpec is a shape reference with its traits.
type RefSpec struct {
	Shape            string        `json:"shape"`
	Location         string        `json:"location,omitempty"`
	LocationName     string        `json:"locationName,omitempty"`
	QueryName        string        `json:"queryName,omitempty"`
	Flattened        bool          `json:"flattened,omitempty"`
	XMLAttribute     bool          `json:"xmlAttribute,omitempty"`
	XMLNamespace     *XMLNamespace `json:"-"`
	TimestampFormat  string        `json:"timestampFormat,omitempty"`
	Streaming        bool          `json:"streaming,omitempty"`
	HostLabel        bool          `json:"hostLabel,omitempty"`
	IdempotencyToken bool          `json:"idempotencyToken,omitempty"`
	EventPayload     bool          `json:"eventpayload,omitempty"`
	JSONValue        bool          `json:"jsonvalue,omitempty"`
	Deprecated       bool          `json:"deprecated,omitempty"`
	ResultWrapper    string        `json:"resultWrapper,omitempty"`
}

// ShapeSpec is one entry of the model's shapes.
type ShapeSpec struct {
	Type            string
	Members         map[string]RefSpec
	Member          *RefSpec
	Key, Value      *RefSpec
	Required        []string
	Payload         string
	Flattened       bool
	TimestampFormat string
	Enum            []string
	Min, Max        *float64
	Pattern         string
	Union           bool
	Exception       bool
	Fault           bool
	Error           *ErrorTrait
	Streaming       bool
	Sensitive       bool
	Event           bool
	EventStream     bool
	LocationName    string
	XMLNamespace    *XMLNamespace
	Document        bool
}

// Build links a Spec into a Service named name.
func Build(name string, spec *Spec) (*Service, error) {
	md := spec.Metadata
	svc := &Service{
		Name:               name,
		APIVersion:         md.APIVersion,
		EndpointPrefix:     md.EndpointPrefix,
		SigningName:        md.SigningName,
		ServiceID:          md.ServiceID,
		TargetPrefix:       md.TargetPrefix,
		JSONVersion:        md.JSONVersion,
		XMLNamespace:       md.XMLNamespace,
		Protocol:           md.Protocol,
		Protocols:          md.Protocols,
		AWSQueryCompatible: md.AWSQueryCompatible,
		GlobalEndpoint:     md.GlobalEndpoint,
		Operations:         make(map[string]*Operation, len(spec.Operations)),
		Shapes:             make(map[string]*Shape, len(spec.Shapes)),
	}
	if svc.SigningName == "" {
		svc.SigningName = svc.EndpointPrefix
	}
	for n, ss := range spec.Shapes {
		typ := ss.Type
		if ss.Document {
			typ = TypeDocument
		}
		svc.Shapes[n] = &Shape{Name: n, Type: typ}
	}
	var err error
	ref := func(r *RefSpec, name string) *Member {
		if r == nil || err != nil {
			return nil
		}
		target, ok := svc.Shapes[r.Shape]
		if !ok {
			err = fmt.Errorf("%s: %s refers to unknown shape %q", name, r.Shape, r.Shape)
			return nil
		}
		return &Member{
			Name: name, Shape: target, Location: r.Location, LocationName: r.LocationName,
			QueryName: r.QueryName, Flattened: r.Flattened, XMLAttribute: r.XMLAttribute,
			XMLNamespace: r.XMLNamespace, TimestampFormat: r.TimestampFormat, Streaming: r.Streaming,
			HostLabel: r.HostLabel, IdempotencyToken: r.IdempotencyToken, EventPayload: r.EventPayload,
			JSONValue: r.JSONValue, Deprecated: r.Deprecated, ResultWrapper: r.ResultWrapper,
		}
	}
	for n, ss := range spec.Shapes {
		sh := svc.Shapes[n]
		sh.Required, sh.Payload, sh.Flattened = ss.Required, ss.Payload, ss.Flattened
		sh.TimestampFormat, sh.Enum, sh.Min, sh.Max, sh.Pattern = ss.TimestampFormat, ss.Enum, ss.Min, ss.Max, ss.Pattern
		sh.Union, sh.Exception, sh.Fault, sh.Error = ss.Union, ss.Exception, ss.Fault, ss.Error
		sh.Streaming, sh.Sensitive, sh.Event, sh.EventStream = ss.Streaming, ss.Sensitive, ss.Event, ss.EventStream
		sh.LocationName, sh.XMLNamespace = ss.LocationName, ss.XMLNamespace
		if len(ss.Members) > 0 || sh.Type == TypeStructure {
			names := make([]string, 0, len(ss.Members))
			for mn := range ss.Members {
				names = append(names, mn)
			}
			sort.Strings(names)
			sh.index = make(map[string]int, len(names))
			for i, mn := range names {
				r := ss.Members[mn]
				sh.Members = append(sh.Members, ref(&r, mn))
				sh.index[mn] = i
			}
		}
		sh.Member = ref(ss.Member, "member")
		sh.Key = ref(ss.Key, "key")
		sh.Value = ref(ss.Value, "value")
	}
	for n, os := range spec.Operations {
		op := &Operation{
			Service: svc, Name: n, HTTPMethod: os.HTTPMethod, RequestURI: os.RequestURI,
			ResponseCode: os.ResponseCode, HostPrefix: os.HostPrefix,
			Input: ref(os.Input, "input"), Output: ref(os.Output, "output"),
		}
		if op.HTTPMethod == "" {
			op.HTTPMethod = "POST"
		}
		if op.RequestURI == "" {
			op.RequestURI = "/"
		}
		for _, e := range os.Errors {
			if sh, ok := svc.Shapes[e]; ok {
				op.Errors = append(op.Errors, sh)
			}
		}
		svc.Operations[n] = op
	}
	if err != nil {
		return nil, fmt.Errorf("wire: building %s: %w", name, err)
	}
	return svc, nil
}

// MustBuild is Build for generated code, whose models are known to link.
func MustBuild(name string, spec *Spec) *Service {
	svc, err := Build(name, spec)
	if err != nil {
		panic(err)
	}
	return svc
}
