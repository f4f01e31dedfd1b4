// Package wire is the runtime form of AWS's service models: services, operations and shapes with every
// wire-level trait (location names, flattening, timestamp formats, HTTP bindings, modeled errors).
//
// The generator turns the pinned botocore models into a Spec literal per service; Build links a Spec into a
// Service that the protocol codecs walk. The codecs speak in generic value trees (see tree.go); the typed Go
// structs of each api/<service> package are filled from those trees by reflection. This package knows nothing
// about HTTP serving, compute or storage.
package wire

import (
	"fmt"
	"sort"
)

// Protocol names as botocore spells them in metadata.protocol.
const (
	ProtocolEC2       = "ec2"
	ProtocolQuery     = "query"
	ProtocolJSON      = "json"
	ProtocolRESTJSON  = "rest-json"
	ProtocolRESTXML   = "rest-xml"
	ProtocolRPCv2CBOR = "smithy-rpc-v2-cbor"
)

// Shape types as botocore spells them.
const (
	TypeStructure = "structure"
	TypeList      = "list"
	TypeMap       = "map"
	TypeString    = "string"
	TypeInteger   = "integer"
	TypeLong      = "long"
	TypeFloat     = "float"
	TypeDouble    = "double"
	TypeBoolean   = "boolean"
	TypeTimestamp = "timestamp"
	TypeBlob      = "blob"
	TypeDocument  = "document"
)

// Member locations of HTTP-bound protocols.
const (
	LocationBody        = ""
	LocationURI         = "uri"
	LocationQueryString = "querystring"
	LocationHeader      = "header"
	LocationHeaders     = "headers"
	LocationStatusCode  = "statusCode"
)

// Service is one AWS service's linked model.
type Service struct {
	Name               string // model file name: "iam", "cloudwatch"
	APIVersion         string
	EndpointPrefix     string
	SigningName        string // signingName, or endpointPrefix when the model has none
	ServiceID          string
	TargetPrefix       string
	JSONVersion        string
	XMLNamespace       string
	Protocol           string
	Protocols          []string
	AWSQueryCompatible bool
	GlobalEndpoint     bool

	Operations map[string]*Operation
	Shapes     map[string]*Shape
}

// Operation is one API operation with its HTTP binding.
type Operation struct {
	Service      *Service
	Name         string
	HTTPMethod   string
	RequestURI   string
	ResponseCode int
	HostPrefix   string
	Input        *Member // nil when the operation takes no input
	Output       *Member // nil when the operation returns nothing
	Errors       []*Shape
}

// Shape is a named model shape.
type Shape struct {
	Name            string
	Type            string
	Members         []*Member // structures, sorted by name
	Member          *Member   // lists
	Key, Value      *Member   // maps
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

	index map[string]int
}

// ErrorTrait is a modeled exception's "error" block.
type ErrorTrait struct {
	Code           string
	HTTPStatusCode int
	SenderFault    bool
}

// XMLNamespace is an xmlNamespace trait.
type XMLNamespace struct {
	Prefix string
	URI    string
}

// Member is a reference to a shape with the traits of that reference.
type Member struct {
	Name             string
	Shape            *Shape
	Location         string
	LocationName     string
	QueryName        string
	Flattened        bool
	XMLAttribute     bool
	XMLNamespace     *XMLNamespace
	TimestampFormat  string
	Streaming        bool
	HostLabel        bool
	IdempotencyToken bool
	EventPayload     bool
	JSONValue        bool
	Deprecated       bool
	ResultWrapper    string // awsQuery output wrapper element
}

// MemberByName returns the member of a structure shape by its model name.
func (s *Shape) MemberByName(name string) (*Member, int, bool) {
	i, ok := s.index[name]
	if !ok {
		return nil, -1, false
	}
	return s.Members[i], i, true
}

// IsRequired reports whether the structure requires the member.
func (s *Shape) IsRequired(name string) bool {
	for _, r := range s.Required {
		if r == name {
			return true
		}
	}
	return false
}

// IsFlattened reports whether a list or map reference is flattened, by the reference or by the shape.
func (m *Member) IsFlattened() bool { return m.Flattened || m.Shape.Flattened }

// WireName is the name a member has on the wire: its locationName, or its model name.
func (m *Member) WireName() string {
	if m.LocationName != "" {
		return m.LocationName
	}
	return m.Name
}

// TimestampFormatOr returns the member's or the shape's timestamp format, or def.
func (m *Member) TimestampFormatOr(def string) string {
	if m.TimestampFormat != "" {
		return m.TimestampFormat
	}
	if m.Shape.TimestampFormat != "" {
		return m.Shape.TimestampFormat
	}
	return def
}

// ErrorCode is the code a modeled error is known by on the wire.
func (s *Shape) ErrorCode() string {
	if s.Error != nil && s.Error.Code != "" {
		return s.Error.Code
	}
	return s.Name
}

// Operation looks up an operation by name.
func (s *Service) Operation(name string) (*Operation, bool) {
	op, ok := s.Operations[name]
	return op, ok
}

// OperationNames returns the operation names, sorted.
func (s *Service) OperationNames() []string {
	names := make([]string, 0, len(s.Operations))
	for n := range s.Operations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrorShape finds a modeled exception of the service by its shape name or its wire code.
func (s *Service) ErrorShape(code string) (*Shape, bool) {
	if sh, ok := s.Shapes[code]; ok && sh.Exception {
		return sh, true
	}
	for _, sh := range s.Shapes {
		if sh.Exception && sh.Error != nil && sh.Error.Code == code {
			return sh, true
		}
	}
	return nil, false
}

func (s *Service) String() string { return fmt.Sprintf("%s(%s)", s.Name, s.Protocol) }
