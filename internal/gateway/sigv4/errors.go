package sigv4

import (
	"errors"
	"net/http"
)

// Kind is why a request failed authentication.
type Kind int

const (
	Missing               Kind = iota + 1 // no signature at all: an anonymous request
	Malformed                             // a signature is there but incomplete or unparsable
	UnknownKey                            // the access key id is not known
	SignatureMismatch                     // the signature (or a chunk or trailer signature) is wrong
	Skewed                                // the request time is more than 15 minutes from the server's
	Expired                               // a presigned request past its expiry, or not yet valid
	TokenMissing                          // a temporary key used without its session token
	TokenInvalid                          // a session token that is not the key's
	TokenExpired                          // the temporary credentials have expired (Secrets said ErrTokenExpired)
	ContentSHA256Mismatch                 // the body does not hash to the declared x-amz-content-sha256
	ChecksumMismatch                      // an aws-chunked trailer checksum does not match the body
	IncompleteBody                        // an aws-chunked body that is cut short or badly framed
)

var kindNames = [...]string{
	Missing: "Missing", Malformed: "Malformed", UnknownKey: "UnknownKey", SignatureMismatch: "SignatureMismatch",
	Skewed: "Skewed", Expired: "Expired", TokenMissing: "TokenMissing", TokenInvalid: "TokenInvalid",
	TokenExpired: "TokenExpired", ContentSHA256Mismatch: "ContentSHA256Mismatch",
	ChecksumMismatch: "ChecksumMismatch", IncompleteBody: "IncompleteBody",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// ErrUnknownKey is what Secrets returns for an access key id it does not know.
var ErrUnknownKey = errors.New("sigv4: unknown access key id")

// ErrTokenExpired is what Secrets returns for temporary credentials past their expiry.
var ErrTokenExpired = errors.New("sigv4: security token expired")

// Error is an authentication failure. Message is the detail AWS would give where the detail depends on the
// request (which parameter is missing, the times of a skew); AWSMessage gives the text a client sees.
type Error struct {
	Kind    Kind
	Message string
	// Presigned is true when the signature came in the query string: S3 names malformed query signatures
	// differently from malformed headers.
	Presigned bool
}

func (e *Error) Error() string { return "sigv4: " + e.Kind.String() + ": " + e.Message }

// Is lets errors.Is(err, &Error{Kind: k}) match any error of kind k.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind
}

// Messages AWS gives for failures whose text does not depend on the request.
const (
	msgSignature    = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgS3Signature  = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgS3UnknownKey = "The AWS Access Key Id you provided does not exist in our records."
	msgBadToken     = "The security token included in the request is invalid."
	msgExpiredToken = "The security token included in the request is expired"
	msgEC2Auth      = "AWS was not able to validate the provided access credentials"
)

// family is how a group of services answers authentication failures.
type family int

const (
	famS3 family = iota
	famQuery
	famEC2
	famJSON     // awsJson 1.0/1.1 and rpcv2cbor: 400s
	famRESTJSON // rest-json (Lambda, Batch): 403s
)

func familyOf(service, protocol string) family {
	if service == "s3" {
		return famS3
	}
	switch protocol {
	case "ec2":
		return famEC2
	case "query":
		return famQuery
	case "rest-json":
		return famRESTJSON
	case "rest-xml":
		return famQuery // no rest-xml service but S3 is served; answer like the XML query family
	}
	return famJSON
}

// AWSCode is the error code and HTTP status AWS answers e with, for a service (its signing name, as in the
// credential scope: "s3", "iam", "ec2") speaking protocol (botocore's metadata.protocol: "ec2", "query", "json",
// "rest-json", "rest-xml", "smithy-rpc-v2-cbor").
func (e *Error) AWSCode(service, protocol string) (code string, status int) {
	switch familyOf(service, protocol) {
	case famS3:
		return e.s3Code()
	case famEC2:
		return e.ec2Code()
	case famQuery:
		return e.queryCode()
	case famRESTJSON:
		code, _ = e.jsonCode()
		return code, http.StatusForbidden
	default:
		return e.jsonCode()
	}
}

func (e *Error) s3Code() (string, int) {
	switch e.Kind {
	case Missing, Expired:
		return "AccessDenied", http.StatusForbidden
	case Malformed:
		if e.Presigned {
			return "AuthorizationQueryParametersError", http.StatusBadRequest
		}
		return "AuthorizationHeaderMalformed", http.StatusBadRequest
	case UnknownKey, TokenMissing:
		// A temporary key without its token is, to S3, a key it does not know.
		return "InvalidAccessKeyId", http.StatusForbidden
	case TokenInvalid:
		return "InvalidToken", http.StatusBadRequest
	case TokenExpired:
		return "ExpiredToken", http.StatusBadRequest
	case Skewed:
		return "RequestTimeTooSkewed", http.StatusForbidden
	case ContentSHA256Mismatch:
		return "XAmzContentSHA256Mismatch", http.StatusBadRequest
	case ChecksumMismatch:
		return "BadDigest", http.StatusBadRequest
	case IncompleteBody:
		return "IncompleteBody", http.StatusBadRequest
	}
	return "SignatureDoesNotMatch", http.StatusForbidden
}

func (e *Error) ec2Code() (string, int) {
	switch e.Kind {
	case Missing:
		return "MissingAuthenticationToken", http.StatusUnauthorized
	case Malformed:
		return "IncompleteSignature", http.StatusBadRequest
	case Skewed, Expired, TokenExpired:
		// EC2's RequestExpired covers a stale date stamp, a past presign expiry and expired temporary credentials.
		return "RequestExpired", http.StatusBadRequest
	}
	return "AuthFailure", http.StatusUnauthorized
}

func (e *Error) queryCode() (string, int) {
	switch e.Kind {
	case Missing:
		return "MissingAuthenticationToken", http.StatusForbidden
	case Malformed:
		return "IncompleteSignature", http.StatusBadRequest
	case UnknownKey, TokenMissing, TokenInvalid:
		return "InvalidClientTokenId", http.StatusForbidden
	case TokenExpired:
		return "ExpiredToken", http.StatusForbidden
	}
	return "SignatureDoesNotMatch", http.StatusForbidden
}

func (e *Error) jsonCode() (string, int) {
	switch e.Kind {
	case Missing:
		return "MissingAuthenticationTokenException", http.StatusBadRequest
	case Malformed:
		return "IncompleteSignatureException", http.StatusBadRequest
	case UnknownKey, TokenMissing, TokenInvalid:
		return "UnrecognizedClientException", http.StatusBadRequest
	case TokenExpired:
		return "ExpiredTokenException", http.StatusBadRequest
	}
	return "InvalidSignatureException", http.StatusBadRequest
}

// AWSMessage is the message AWS gives with AWSCode's code. Where AWS's text is fixed for a family it is that
// text; otherwise it is e.Message.
func (e *Error) AWSMessage(service, protocol string) string {
	fam := familyOf(service, protocol)
	switch e.Kind {
	case Missing:
		switch fam {
		case famS3:
			return "Access Denied"
		case famEC2:
			return "The request must contain either a valid (registered) AWS access key ID or X.509 certificate."
		case famQuery:
			return "Request is missing Authentication Token"
		}
		return "Missing Authentication Token"
	case UnknownKey, TokenMissing:
		switch fam {
		case famS3:
			return msgS3UnknownKey
		case famEC2:
			return msgEC2Auth
		}
		return msgBadToken
	case TokenInvalid:
		switch fam {
		case famS3:
			return "The provided token is malformed or otherwise invalid."
		case famEC2:
			return msgEC2Auth
		}
		return msgBadToken
	case TokenExpired:
		if fam == famS3 {
			return "The provided token has expired."
		}
		if fam == famEC2 {
			return "Request has expired."
		}
		return msgExpiredToken
	case SignatureMismatch:
		switch fam {
		case famS3:
			return msgS3Signature
		case famEC2:
			return msgEC2Auth
		}
		return msgSignature
	case Skewed:
		if fam == famS3 {
			return "The difference between the request time and the current time is too large."
		}
		if fam == famEC2 {
			return "Request has expired."
		}
	case ContentSHA256Mismatch:
		return "The provided 'x-amz-content-sha256' header does not match what was computed."
	case IncompleteBody:
		if fam == famS3 {
			return "You did not provide the number of bytes specified by the Content-Length HTTP header."
		}
	}
	return e.Message
}

func fail(kind Kind, msg string) *Error { return &Error{Kind: kind, Message: msg} }
