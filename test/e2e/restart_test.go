package e2e

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestRestartKeepsState stops Overcast and starts it again on the same data directory: users, access keys,
// policies, buckets and objects are all still there, and the old keys still sign.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	ctx := ctxT(t)
	cfg := s.rootConfig()
	ic := iam.NewFromConfig(cfg)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("keeper")}); err != nil {
		t.Fatal(err)
	}
	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("keeper")})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := ic.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("read-b"), PolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::keep","arn:aws:s3:::keep/*"]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("keeper"), PolicyArn: pol.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	sc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("keep")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keep"), Key: aws.String("o"), Body: bytes.NewReader([]byte("kept"))}); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	s2 := startServer(t, dir)
	user := s2.sdkConfig(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
	id, err := sts.NewFromConfig(user).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != "arn:aws:iam::000000000000:user/keeper" {
		t.Fatalf("old key after restart: %+v %v", id, err)
	}
	us3 := s3.NewFromConfig(user, func(o *s3.Options) { o.UsePathStyle = true })
	got, err := us3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("keep"), Key: aws.String("o")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(data) != "kept" {
		t.Fatalf("object after restart: %q", data)
	}
	attached, err := iam.NewFromConfig(s2.rootConfig()).ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("keeper")})
	if err != nil || len(attached.AttachedPolicies) != 1 || aws.ToString(attached.AttachedPolicies[0].PolicyArn) != aws.ToString(pol.Policy.Arn) {
		t.Fatalf("attached after restart: %+v %v", attached, err)
	}
	// The policy still governs: writing is denied.
	_, err = us3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keep"), Key: aws.String("x"), Body: bytes.NewReader(nil)})
	wantCode(t, err, "AccessDenied", 403)
	_, err = iam.NewFromConfig(s2.rootConfig()).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("gone")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Fatalf("want NoSuchEntity, got %v", err)
	}
}
