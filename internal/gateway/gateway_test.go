package gateway

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	apists "github.com/overcast-cloud/overcast/api/sts"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/query"
	"github.com/overcast-cloud/overcast/internal/testutil"
)

// rootOnly is an Identity that knows one root key.
type rootOnly struct{}

func (rootOnly) Credentials(_ context.Context, id string) (*iam.Credential, error) {
	if id != "root" {
		return nil, iam.ErrUnknownKey
	}
	return &iam.Credential{Secret: "secret", Principal: &awsctx.Principal{Account: "000000000000", ARN: "arn:aws:iam::000000000000:root", Type: "Root", UserID: "000000000000"}}, nil
}
func (rootOnly) PoliciesFor(context.Context, *awsctx.Principal) ([]*policy.Policy, *policy.Policy, error) {
	return nil, nil, nil
}
func (rootOnly) PrincipalTags(context.Context, *awsctx.Principal) (map[string]string, error) {
	return nil, nil
}
func (rootOnly) NoteKeyUse(string, string, string) {}

// stsWith serves STS whose GetCallerIdentity does what answer says.
func stsWith(t *testing.T, answer func() (*apists.GetCallerIdentityResponse, error)) *sts.Client {
	t.Helper()
	h := apists.Handlers(apists.Unimplemented{})
	h["GetCallerIdentity"] = wire.Handler{
		NewInput: func() any { return new(apists.GetCallerIdentityRequest) },
		Invoke:   func(context.Context, any) (any, error) { return answer() },
	}
	b := &Binding{Model: apists.Model(), Handlers: h, Codecs: map[string]protocol.Codec{wire.ProtocolQuery: query.New()}}
	srv := httptest.NewServer(New(Config{Registry: NewRegistry(b), Identity: rootOnly{}}))
	t.Cleanup(srv.Close)
	return sts.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		HTTPClient: testutil.SDKHTTPClient(), Credentials: credentials.NewStaticCredentialsProvider("root", "secret", "")})
}

func apiError(t *testing.T, err error) (code string, status int) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("not an API error: %T %v", err, err)
	}
	return ae.ErrorCode(), re.HTTPStatusCode()
}

func TestPanicAnswersInternalError(t *testing.T) {
	c := stsWith(t, func() (*apists.GetCallerIdentityResponse, error) { panic("a bug") })
	_, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if code, status := apiError(t, err); code != "InternalFailure" || status != 500 {
		t.Fatalf("got %s %d", code, status)
	}
}

// The error table: a domain class becomes the family's status and default code; a service's own code wins.
func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{apierr.New(apierr.AccessDenied, "", "no"), "AccessDenied", 403},
		{apierr.New(apierr.Invalid, "", "bad"), "ValidationError", 400},
		{apierr.New(apierr.Throttled, "", "slow down"), "Throttling", 400},
		{wire.NotImplemented("sts", "GetCallerIdentity"), "NotImplemented", 501},
		{errors.New("plain"), "InternalFailure", 500},
	} {
		c := stsWith(t, func() (*apists.GetCallerIdentityResponse, error) { return nil, tc.err })
		_, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if code, status := apiError(t, err); code != tc.code || status != tc.status {
			t.Errorf("%v: got %s %d, want %s %d", tc.err, code, status, tc.code, tc.status)
		}
	}
}
