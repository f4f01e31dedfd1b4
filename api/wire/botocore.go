package wire

import (
	"encoding/json"
	"fmt"
)

type rawNS struct {
	Prefix string `json:"prefix"`
	URI    string `json:"uri"`
}

type rawRef struct {
	RefSpec
	NS *rawNS `json:"xmlNamespace"`
}

type rawShape struct {
	Type            string            `json:"type"`
	Members         map[string]rawRef `json:"members"`
	Member          *rawRef           `json:"member"`
	Key             *rawRef           `json:"key"`
	Value           *rawRef           `json:"value"`
	Required        []string          `json:"required"`
	Payload         string            `json:"payload"`
	Flattened       bool              `json:"flattened"`
	TimestampFormat string            `json:"timestampFormat"`
	Enum            []string          `json:"enum"`
	Min             *float64          `json:"min"`
	Max             *float64          `json:"max"`
	Pattern         string            `json:"pattern"`
	Union           bool              `json:"union"`
	Exception       bool              `json:"exception"`
	Fault           bool              `json:"fault"`
	Error           *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
		SenderFault    bool   `json:"senderFault"`
	} `json:"error"`
	Streaming    bool   `json:"streaming"`
	Sensitive    bool   `json:"sensitive"`
	Event        bool   `json:"event"`
	EventStream  bool   `json:"eventstream"`
	LocationName string `json:"locationName"`
	XMLNamespace *rawNS `json:"xmlNamespace"`
	Document     bool   `json:"document"`
}

type rawOperation struct {
	HTTP struct {
		Method       string `json:"method"`
		RequestURI   string `json:"requestUri"`
		ResponseCode int    `json:"responseCode"`
	} `json:"http"`
	Endpoint *struct {
		HostPrefix string `json:"hostPrefix"`
	} `json:"endpoint"`
	Input  *rawRef `json:"input"`
	Output *rawRef `json:"output"`
	Errors []struct {
		Shape string `json:"shape"`
	} `json:"errors"`
}

type rawModel struct {
	Metadata struct {
		MetadataSpec
		AWSQueryCompatible json.RawMessage `json:"awsQueryCompatible"`
		GlobalEndpoint     string          `json:"globalEndpoint"`
	} `json:"metadata"`
	Operations map[string]rawOperation `json:"operations"`
	Shapes     map[string]rawShape     `json:"shapes"`
}

func (r *rawRef) spec() *RefSpec {
	if r == nil {
		return nil
	}
	s := r.RefSpec
	if r.NS != nil {
		s.XMLNamespace = &XMLNamespace{Prefix: r.NS.Prefix, URI: r.NS.URI}
	}
	return &s
}

// ParseBotocore reads a botocore service-2.json document into a Spec.
func ParseBotocore(data []byte) (*Spec, error) {
	var m rawModel
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("wire: parsing botocore model: %w", err)
	}
	return fromRaw(&m), nil
}

// ParseBotocoreParts reads a model given as its separate metadata, operations and shapes documents, the way the
// protocol conformance suites write them.
func ParseBotocoreParts(metadata, operations, shapes []byte) (*Spec, error) {
	var m rawModel
	if err := json.Unmarshal(metadata, &m.Metadata); err != nil {
		return nil, fmt.Errorf("wire: metadata: %w", err)
	}
	if len(operations) > 0 {
		if err := json.Unmarshal(operations, &m.Operations); err != nil {
			return nil, fmt.Errorf("wire: operations: %w", err)
		}
	}
	if err := json.Unmarshal(shapes, &m.Shapes); err != nil {
		return nil, fmt.Errorf("wire: shapes: %w", err)
	}
	return fromRaw(&m), nil
}

func fromRaw(m *rawModel) *Spec {
	spec := &Spec{
		Metadata:   m.Metadata.MetadataSpec,
		Operations: make(map[string]OperationSpec, len(m.Operations)),
		Shapes:     make(map[string]ShapeSpec, len(m.Shapes)),
	}
	spec.Metadata.AWSQueryCompatible = len(m.Metadata.AWSQueryCompatible) > 0 && string(m.Metadata.AWSQueryCompatible) != "null"
	spec.Metadata.GlobalEndpoint = m.Metadata.GlobalEndpoint != ""
	if spec.Metadata.Protocol == "" && len(spec.Metadata.Protocols) > 0 {
		spec.Metadata.Protocol = spec.Metadata.Protocols[0]
	}
	for name, rs := range m.Shapes {
		ss := ShapeSpec{
			Type: rs.Type, Member: rs.Member.spec(), Key: rs.Key.spec(), Value: rs.Value.spec(),
			Required: rs.Required, Payload: rs.Payload, Flattened: rs.Flattened,
			TimestampFormat: rs.TimestampFormat, Enum: rs.Enum, Min: rs.Min, Max: rs.Max, Pattern: rs.Pattern,
			Union: rs.Union, Exception: rs.Exception, Fault: rs.Fault, Streaming: rs.Streaming,
			Sensitive: rs.Sensitive, Event: rs.Event, EventStream: rs.EventStream,
			LocationName: rs.LocationName, Document: rs.Document,
		}
		if rs.XMLNamespace != nil {
			ss.XMLNamespace = &XMLNamespace{Prefix: rs.XMLNamespace.Prefix, URI: rs.XMLNamespace.URI}
		}
		if rs.Error != nil {
			ss.Error = &ErrorTrait{Code: rs.Error.Code, HTTPStatusCode: rs.Error.HTTPStatusCode, SenderFault: rs.Error.SenderFault}
		}
		if len(rs.Members) > 0 {
			ss.Members = make(map[string]RefSpec, len(rs.Members))
			for mn, mr := range rs.Members {
				ss.Members[mn] = *mr.spec()
			}
		}
		spec.Shapes[name] = ss
	}
	for name, ro := range m.Operations {
		os := OperationSpec{
			HTTPMethod: ro.HTTP.Method, RequestURI: ro.HTTP.RequestURI, ResponseCode: ro.HTTP.ResponseCode,
			Input: ro.Input.spec(), Output: ro.Output.spec(),
		}
		if ro.Endpoint != nil {
			os.HostPrefix = ro.Endpoint.HostPrefix
		}
		for _, e := range ro.Errors {
			os.Errors = append(os.Errors, e.Shape)
		}
		spec.Operations[name] = os
	}
	return spec
}
