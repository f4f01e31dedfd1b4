package iam

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store/memory"
)

const acct = awsctx.DefaultAccount

type fixture struct {
	svc  *Service
	dir  *ident.Directory
	root context.Context // signed by the account's root user
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pbkdf2Iterations = 1000 // keep tests fast; each hash records its own count
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	dir := ident.NewDirectory(st, ident.DefaultRootKey, func() time.Time { return now })
	f := &fixture{svc: New(dir), dir: dir}
	f.root = f.as(t, "test")
	return f
}

// as returns a context signed with the access key, as the gateway would build it.
func (f *fixture) as(t *testing.T, accessKeyID string) context.Context {
	t.Helper()
	c, err := f.dir.Credentials(context.Background(), accessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	return awsctx.With(context.Background(), &awsctx.Request{Account: c.Principal.Account, Region: "us-east-1", Principal: c.Principal})
}

func p(s string) *string { return &s }

func i32(n int32) *int32 { return &n }

// wantCode asserts that err is the AWS error code, optionally with the message.
func wantCode(t *testing.T, err error, code string, msg ...string) {
	t.Helper()
	e, ok := apierr.As(err)
	if !ok {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %s (%s), want %s", e.Code, e.Message, code)
	}
	if len(msg) > 0 && e.Message != msg[0] {
		t.Fatalf("message = %q, want %q", e.Message, msg[0])
	}
}

// must returns v, failing the test (by panicking, which go test reports with the stack) on an error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func decoded(t *testing.T, s *string) string {
	t.Helper()
	if s == nil {
		t.Fatal("no document")
	}
	d, err := url.QueryUnescape(*s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const (
	allowS3  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	trustEC2 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)
