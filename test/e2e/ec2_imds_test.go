package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

const ec2Trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// TestEC2MetadataAndRole checks IMDSv1 and v2 as instances see them, that one instance's token is worthless
// to another, and that an instance's role credentials work for an unconfigured AWS CLI inside the instance's
// network and are governed by the role's policies.
func TestEC2MetadataAndRole(t *testing.T) {
	testutil.RequiresRoot(t)
	curl := testutil.RequiresTool(t, "curl")
	requireTool(t, "/usr/bin/aws")
	s := startServer(t, "", withCompute())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := s.rootConfig()
	ic := iam.NewFromConfig(cfg)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("s3reader"), AssumeRolePolicyDocument: aws.String(ec2Trust)}))
	must(ic.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("s3reader"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")}))
	must(ic.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("s3reader")}))
	must(ic.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("s3reader"), RoleName: aws.String("s3reader")}))
	must(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("from-an-instance")}))

	c := ec2.NewFromConfig(cfg)
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(s.imageID(t, "busybox")), InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		IamInstanceProfile: &types.IamInstanceProfileSpecification{Name: aws.String("s3reader")},
		MetadataOptions:    &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := aws.ToString(run.Instances[0].InstanceId), aws.ToString(run.Instances[1].InstanceId)
	if err := ec2.NewInstanceRunningWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{a, b}}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	const md = "http://169.254.169.254/latest/"
	get := func(id, path, token string) string {
		t.Helper()
		args := []string{curl, "-s", "-m", "3", "-w", " %{http_code}"}
		if token != "" {
			args = append(args, "-H", "X-aws-ec2-metadata-token: "+token)
		}
		out, _ := s.inInstanceNet(id, append(args, md+path)...)
		return out
	}
	token := func(id string) string {
		t.Helper()
		out, err := s.inInstanceNet(id, curl, "-s", "-m", "3", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60", md+"api/token")
		if err != nil || out == "" {
			t.Fatalf("token for %s: %q %v", id, out, err)
		}
		return out
	}

	// HttpTokens required: v1 gets 401; v2 gets the instance's own data.
	if got := get(a, "meta-data/instance-id", ""); !strings.HasSuffix(got, " 401") {
		t.Fatalf("IMDSv1 with tokens required: %q", got)
	}
	ta := token(a)
	if got := get(a, "meta-data/instance-id", ta); got != a+" 200" {
		t.Fatalf("IMDSv2 instance-id: %q", got)
	}
	// A's token is worthless from B, and B sees only itself.
	if got := get(b, "meta-data/instance-id", ta); !strings.HasSuffix(got, " 401") {
		t.Fatalf("A's token used from B: %q", got)
	}
	if got := get(b, "meta-data/instance-id", token(b)); got != b+" 200" {
		t.Fatalf("B's instance-id: %q", got)
	}
	if got := get(a, "meta-data/iam/security-credentials/", ta); got != "s3reader 200" {
		t.Fatalf("role listing: %q", got)
	}

	// The AWS CLI with no keys finds the role's credentials through the metadata service, and reaches the
	// APIs at the VPC's endpoint.
	awsIn := func(id string, args ...string) (string, error) {
		return s.inInstanceNet(id, append([]string{"env", "-i", "HOME=/tmp", "PATH=/usr/bin:/bin",
			"AWS_DEFAULT_REGION=us-east-1", "/usr/bin/aws", "--endpoint-url", "http://169.254.169.254:4566"}, args...)...)
	}
	out, err := awsIn(a, "s3api", "list-buckets", "--query", "Buckets[].Name", "--output", "text")
	if err != nil || strings.TrimSpace(out) != "from-an-instance" {
		t.Fatalf("list-buckets with the role: %v %q", err, out)
	}
	out, err = awsIn(a, "s3", "mb", "s3://not-allowed")
	if err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("read-only role made a bucket: %v %q", err, out)
	}
	// The role's policies govern the credentials: without the policy, listing is denied.
	must(ic.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("s3reader"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")}))
	out, err = awsIn(a, "s3api", "list-buckets")
	if err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("list-buckets after the policy went: %v %q", err, out)
	}
	// Without the profile the instance has no role at all.
	assoc, err := c.DescribeIamInstanceProfileAssociations(ctx, &ec2.DescribeIamInstanceProfileAssociationsInput{
		Filters: []types.Filter{{Name: aws.String("instance-id"), Values: []string{a}}}})
	if err != nil || len(assoc.IamInstanceProfileAssociations) != 1 {
		t.Fatalf("associations: %+v %v", assoc, err)
	}
	must(c.DisassociateIamInstanceProfile(ctx, &ec2.DisassociateIamInstanceProfileInput{AssociationId: assoc.IamInstanceProfileAssociations[0].AssociationId}))
	eventually(t, 10*time.Second, func() (string, error) {
		if got := get(a, "meta-data/iam/security-credentials/", token(a)); !strings.HasSuffix(got, " 404") {
			return "", errorf("credentials still served: %q", got)
		}
		return "", nil
	})

	must(c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{a, b}}))
	if err := ec2.NewInstanceTerminatedWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{a, b}}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}
