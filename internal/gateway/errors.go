package gateway

import (
	"errors"
	"net/http"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

// family is a group of protocols that answer errors alike.
type family int

const (
	famQuery    family = iota // awsQuery: IAM, STS, Auto Scaling, ELBv2
	famEC2                    // EC2
	famJSON                   // awsJson and rpcv2Cbor: ECS, ECR, Logs, Events, CloudWatch
	famRESTJSON               // Lambda, Batch
	famS3                     // restXml: S3
)

func familyOf(protocolName string) family {
	switch protocolName {
	case wire.ProtocolEC2:
		return famEC2
	case wire.ProtocolJSON, wire.ProtocolRPCv2CBOR:
		return famJSON
	case wire.ProtocolRESTJSON:
		return famRESTJSON
	case wire.ProtocolRESTXML:
		return famS3
	}
	return famQuery
}

// mapping is the answer for one error class in one protocol family.
type mapping struct {
	status int
	code   string // the code used when the domain error names none
}

// errorTable is the one place where a domain error class becomes a status and a default code. A service's own
// code (apierr.Error.Code) wins over the default, and a modeled exception's httpStatusCode wins over the
// status, so the table only has to be right for the class.
var errorTable = map[apierr.Class]map[family]mapping{
	apierr.Internal: {
		famQuery: {500, "InternalFailure"}, famEC2: {500, "InternalError"}, famJSON: {500, "InternalFailure"},
		famRESTJSON: {500, "ServiceException"}, famS3: {500, "InternalError"},
	},
	apierr.Invalid: {
		famQuery: {400, "ValidationError"}, famEC2: {400, "InvalidParameterValue"}, famJSON: {400, "ValidationException"},
		famRESTJSON: {400, "InvalidParameterValueException"}, famS3: {400, "InvalidArgument"},
	},
	apierr.NotFound: {
		famQuery: {404, "NoSuchEntity"}, famEC2: {400, "InvalidParameterValue"}, famJSON: {400, "ResourceNotFoundException"},
		famRESTJSON: {404, "ResourceNotFoundException"}, famS3: {404, "NoSuchKey"},
	},
	apierr.AlreadyExists: {
		famQuery: {409, "EntityAlreadyExists"}, famEC2: {400, "InvalidParameterValue"}, famJSON: {400, "ResourceAlreadyExistsException"},
		famRESTJSON: {409, "ResourceConflictException"}, famS3: {409, "BucketAlreadyExists"},
	},
	apierr.Conflict: {
		famQuery: {409, "DeleteConflict"}, famEC2: {400, "IncorrectState"}, famJSON: {400, "ResourceInUseException"},
		famRESTJSON: {409, "ResourceConflictException"}, famS3: {409, "OperationAborted"},
	},
	apierr.LimitExceeded: {
		famQuery: {409, "LimitExceeded"}, famEC2: {400, "ResourceLimitExceeded"}, famJSON: {400, "LimitExceededException"},
		famRESTJSON: {429, "TooManyRequestsException"}, famS3: {400, "TooManyBuckets"},
	},
	apierr.AccessDenied: {
		famQuery: {403, "AccessDenied"}, famEC2: {403, "UnauthorizedOperation"}, famJSON: {400, "AccessDeniedException"},
		famRESTJSON: {403, "AccessDeniedException"}, famS3: {403, "AccessDenied"},
	},
	apierr.Unauthenticated: {
		famQuery: {403, "InvalidClientTokenId"}, famEC2: {401, "AuthFailure"}, famJSON: {400, "UnrecognizedClientException"},
		famRESTJSON: {403, "UnrecognizedClientException"}, famS3: {403, "InvalidAccessKeyId"},
	},
	apierr.Throttled: {
		famQuery: {400, "Throttling"}, famEC2: {503, "RequestLimitExceeded"}, famJSON: {400, "ThrottlingException"},
		famRESTJSON: {429, "TooManyRequestsException"}, famS3: {503, "SlowDown"},
	},
	apierr.Unavailable: {
		famQuery: {503, "ServiceUnavailable"}, famEC2: {503, "Unavailable"}, famJSON: {503, "ServiceUnavailableException"},
		famRESTJSON: {503, "ServiceException"}, famS3: {503, "ServiceUnavailable"},
	},
	apierr.NotImplemented: {
		famQuery: {501, "NotImplemented"}, famEC2: {501, "NotImplemented"}, famJSON: {501, "NotImplemented"},
		famRESTJSON: {501, "NotImplemented"}, famS3: {501, "NotImplemented"},
	},
}

// toWire maps any error a call produced to its wire answer for svc spoken in protocolName.
func toWire(svc *wire.Service, protocolName string, err error) *protocol.Error {
	fam := familyOf(protocolName)
	var e *apierr.Error
	var ni *wire.NotImplementedError
	switch {
	case errors.As(err, &ni):
		e = &apierr.Error{Class: apierr.NotImplemented, Message: ni.Error()}
	case errors.As(err, &e):
	default:
		e = &apierr.Error{Class: apierr.Internal, Message: "We encountered an internal error. Please try again."}
	}
	m, ok := errorTable[e.Class][fam]
	if !ok {
		m = errorTable[apierr.Internal][fam]
	}
	out := &protocol.Error{Code: e.Code, Message: e.Message, Status: m.status, Fields: e.Fields}
	if out.Code == "" {
		out.Code = m.code
	}
	if sh, ok := svc.ErrorShape(out.Code); ok {
		out.Shape = sh
		if sh.Name != out.Code {
			out.Type = sh.Name
		}
		if sh.Error != nil && sh.Error.HTTPStatusCode != 0 {
			out.Status = sh.Error.HTTPStatusCode
		}
	}
	if e.Status != 0 {
		out.Status = e.Status
	}
	out.Sender = out.Status < 500
	if e.Class == apierr.Internal || e.Class == apierr.Unavailable {
		out.Sender = false
	}
	return out
}

// statusText is used when a status has no modeled shape to name it.
var _ = http.StatusText
