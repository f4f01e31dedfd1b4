package imds

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	sdkimds "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// The Go SDK's own metadata client and instance-role provider, unmodified, against the service: this is what
// every SDK inside an instance does when no keys are configured.
func TestGoSDK(t *testing.T) {
	w := newIAMWorld(t)
	w.createRole(t, "WebRole", ec2Trust, s3ReadOnly)
	a, src := w.serve(t, "WebRole")
	src.update(ipA, func(i *Instance) { i.HTTPTokens = "required" }) // the SDK must do the IMDSv2 dance
	ctx := context.Background()
	c := sdkimds.New(sdkimds.Options{Endpoint: "http://" + a.ts.addr, HTTPClient: a.hc})

	md, err := c.GetMetadata(ctx, &sdkimds.GetMetadataInput{Path: "instance-id"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(md.Content); string(b) != "i-0aaaaaaaaaaaaaaa1" {
		t.Errorf("instance-id = %q", b)
	}
	region, err := c.GetRegion(ctx, nil)
	if err != nil || region.Region != "us-east-1" {
		t.Errorf("region = %+v, %v", region, err)
	}
	doc, err := c.GetInstanceIdentityDocument(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if doc.InstanceID != "i-0aaaaaaaaaaaaaaa1" || doc.PrivateIP != "127.0.0.2" || doc.AccountID != "000000000000" ||
		!doc.PendingTime.Equal(time.Date(2025, 6, 1, 11, 59, 30, 0, time.UTC)) || doc.Version != "2017-09-30" {
		t.Errorf("identity document = %+v", doc.InstanceIdentityDocument)
	}
	ud, err := c.GetUserData(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(ud.Content); string(b) != "#!/bin/sh\necho hello\n" {
		t.Errorf("user data = %q", b)
	}
	info, err := c.GetIAMInfo(ctx, nil)
	if err != nil || info.Code != "Success" || !strings.HasSuffix(info.InstanceProfileArn, ":instance-profile/web") {
		t.Errorf("iam info = %+v, %v", info, err)
	}

	creds, err := ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = c }).Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(creds.AccessKeyID, "ASIA") || creds.SessionToken == "" || !creds.CanExpire ||
		!creds.Expires.Equal(time.Date(2025, 6, 1, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("role credentials = %+v", creds)
	}
	if cred, err := w.dir.Credentials(ctx, creds.AccessKeyID); err != nil || cred.Secret != creds.SecretAccessKey {
		t.Errorf("the SDK's credentials do not resolve in IAM: %v", err)
	}
}
