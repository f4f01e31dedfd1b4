package wire

import (
	"context"
	"fmt"
)

// Empty is the input or output of an operation whose model has none.
type Empty struct{}

// Handler binds one operation to the service method that carries it out.
type Handler struct {
	// NewInput returns a new zero input: a pointer to the operation's typed input struct.
	NewInput func() any
	// Invoke calls the service method with a value from NewInput and returns its typed output.
	Invoke func(ctx context.Context, in any) (any, error)
}

// NotImplementedError is what an operation returns that the model has but Overcast has not built.
type NotImplementedError struct {
	Service   string
	Operation string
}

func (e *NotImplementedError) Error() string {
	return fmt.Sprintf("%s is not implemented by Overcast for %s yet", e.Operation, e.Service)
}

// NotImplemented returns the error for an operation that is not built yet.
func NotImplemented(service, operation string) error {
	return &NotImplementedError{Service: service, Operation: operation}
}

// Float returns a pointer to v, for generated Min and Max traits.
func Float(v float64) *float64 { return &v }
