// Package apierr holds the domain error classes every service returns. A service names the AWS error code it
// means (the code of a modeled exception, or an EC2 code such as "InvalidInstanceID.NotFound") and a class;
// the gateway maps class, service and protocol to the HTTP status, fault and envelope. Nothing compares error
// strings.
package apierr

import (
	"errors"
	"fmt"
)

// Class is what kind of failure an error is.
type Class int

const (
	Internal        Class = iota // a fault of Overcast: 500
	Invalid                      // the request is malformed or a value is out of range: 400
	NotFound                     // the named resource does not exist: 404 on REST, 400 on query
	AlreadyExists                // a resource of that name exists: 409 on REST, 400 on query
	Conflict                     // the resource's state forbids the call: 409 on REST, 400 on query
	LimitExceeded                // a quota is reached: 400 or 429
	AccessDenied                 // authenticated but not allowed: 403
	Unauthenticated              // the signature or credentials are wrong: 403
	Throttled                    // too many requests: 400 or 429
	Unavailable                  // try again later: 503
	NotImplemented               // the model has the operation, Overcast does not yet: 501
)

// Error is a domain error with its AWS code.
type Error struct {
	Class   Class
	Code    string // the AWS error code; empty means the class's default for the service
	Message string
	Status  int            // overrides the mapped HTTP status when not zero (S3's 301/304/412 and the like)
	Fields  map[string]any // further members of a modeled exception, by member name
}

func (e *Error) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// New makes an error of class c with code and a formatted message.
func New(c Class, code, format string, args ...any) *Error {
	return &Error{Class: c, Code: code, Message: fmt.Sprintf(format, args...)}
}

// With returns e with a further member of the modeled exception set.
func (e *Error) With(member string, value any) *Error {
	if e.Fields == nil {
		e.Fields = map[string]any{}
	}
	e.Fields[member] = value
	return e
}

// WithStatus returns e with an explicit HTTP status.
func (e *Error) WithStatus(status int) *Error {
	e.Status = status
	return e
}

// As finds the *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Is reports whether err carries an *Error of class c.
func Is(err error, c Class) bool {
	e, ok := As(err)
	return ok && e.Class == c
}

// Shorthands for the common classes.
func InvalidParam(code, format string, args ...any) *Error {
	return New(Invalid, code, format, args...)
}
func Missing(code, format string, args ...any) *Error { return New(NotFound, code, format, args...) }
func Exists(code, format string, args ...any) *Error {
	return New(AlreadyExists, code, format, args...)
}
func Denied(code, format string, args ...any) *Error { return New(AccessDenied, code, format, args...) }
