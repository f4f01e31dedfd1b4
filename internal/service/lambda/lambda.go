// Package lambda is AWS Lambda's API. Functions are created and run with the Lambda issue; until then the
// listing and lookup operations answer truthfully over an empty set of functions, and everything else answers
// NotImplemented.
package lambda

import (
	"context"
	"strings"

	api "github.com/overcast-cloud/overcast/api/lambda"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

const kindFunction = "lambda/function"

// Service implements api/lambda.Service.
type Service struct {
	api.Unimplemented
	st store.Store
}

// New returns the Lambda service.
func New(st store.Store) *Service { return &Service{st: st} }

var _ api.Service = (*Service)(nil)

// ListFunctions lists the functions of the region.
func (s *Service) ListFunctions(ctx context.Context, in *api.ListFunctionsRequest) (*api.ListFunctionsResponse, error) {
	r := awsctx.From(ctx)
	fns, _, err := store.List[api.FunctionConfiguration](ctx, s.st, store.Prefix{Account: r.Account, Region: r.Region, Kind: kindFunction})
	if err != nil {
		return nil, err
	}
	if fns == nil {
		fns = []api.FunctionConfiguration{}
	}
	return &api.ListFunctionsResponse{Functions: fns}, nil
}

// GetFunction finds a function by name or ARN.
func (s *Service) GetFunction(ctx context.Context, in *api.GetFunctionRequest) (*api.GetFunctionResponse, error) {
	r := awsctx.From(ctx)
	name := *in.FunctionName
	if i := strings.LastIndex(name, ":function:"); i >= 0 {
		name = name[i+len(":function:"):]
	}
	fn, _, err := store.Get[api.FunctionConfiguration](ctx, s.st, store.Key{Account: r.Account, Region: r.Region, Kind: kindFunction, ID: name})
	if err != nil {
		return nil, apierr.Missing("ResourceNotFoundException", "Function not found: arn:aws:lambda:%s:%s:function:%s", r.Region, r.Account, name)
	}
	return &api.GetFunctionResponse{Configuration: &fn}, nil
}
