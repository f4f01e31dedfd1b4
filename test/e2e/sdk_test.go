package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestSDKSixProtocols drives one call of each protocol with aws-sdk-go-v2 and checks that the SDK's own
// deserializers accept the answers, that errors decode into the SDK's typed errors, and that an operation not
// built yet answers 501.
func TestSDKSixProtocols(t *testing.T) {
	s := startServer(t, "")
	cfg := s.rootConfig()
	ctx := ctxT(t)

	t.Run("ec2", func(t *testing.T) {
		c := ec2.NewFromConfig(cfg)
		out, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Regions) < 30 {
			t.Fatalf("regions: %d", len(out.Regions))
		}
		azs, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(azs.AvailabilityZones) != 6 || aws.ToString(azs.AvailabilityZones[0].ZoneName) != "us-east-1a" {
			t.Fatalf("zones: %+v", azs.AvailabilityZones)
		}
		_, err = c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{"moon-1"}})
		wantCode(t, err, "InvalidParameterValue", 400)
		_, err = c.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{})
		wantCode(t, err, "NotImplemented", 501)
		// This server runs with --compute=off: no instance may pretend to start.
		_, err = c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		wantCode(t, err, "Unsupported", 400)
	})

	t.Run("query", func(t *testing.T) {
		c := iam.NewFromConfig(cfg)
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/team/")}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ListUsers(ctx, &iam.ListUsersInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Users) != 1 || aws.ToString(out.Users[0].Arn) != "arn:aws:iam::000000000000:user/team/alice" || out.Users[0].CreateDate == nil {
			t.Fatalf("users: %+v", out.Users)
		}
		_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
		var nse *iamtypes.NoSuchEntityException
		if !errors.As(err, &nse) {
			t.Fatalf("want *types.NoSuchEntityException, got %T %v", err, err)
		}
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || aws.ToString(id.Account) != "000000000000" {
			t.Fatalf("caller identity: %+v %v", id, err)
		}
	})

	t.Run("awsjson", func(t *testing.T) {
		c := ecs.NewFromConfig(cfg)
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("web")}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ClusterArns) != 1 || out.ClusterArns[0] != "arn:aws:ecs:us-east-1:000000000000:cluster/web" {
			t.Fatalf("clusters: %v", out.ClusterArns)
		}
		_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("nope")})
		var cnf *ecstypes.ClusterNotFoundException
		if !errors.As(err, &cnf) {
			t.Fatalf("want *types.ClusterNotFoundException, got %T %v", err, err)
		}
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("x")})
		wantCode(t, err, "NotImplemented", 501)
	})

	t.Run("restjson", func(t *testing.T) {
		c := lambda.NewFromConfig(cfg)
		out, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Functions) != 0 {
			t.Fatalf("functions: %+v", out.Functions)
		}
		_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("missing")})
		var rnf *lambdatypes.ResourceNotFoundException
		if !errors.As(err, &rnf) {
			t.Fatalf("want *types.ResourceNotFoundException, got %T %v", err, err)
		}
		_, err = c.ListLayers(ctx, &lambda.ListLayersInput{})
		wantCode(t, err, "NotImplemented", 501)
	})

	t.Run("restxml", func(t *testing.T) {
		c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("data")}); err != nil {
			t.Fatal(err)
		}
		body := bytes.Repeat([]byte("0123456789"), 100_000)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("dir/a b.bin"), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("dir/a b.bin")})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if !bytes.Equal(data, body) || aws.ToInt64(got.ContentLength) != int64(len(body)) {
			t.Fatalf("object: %d bytes, content-length %d", len(data), aws.ToInt64(got.ContentLength))
		}
		list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data"), Prefix: aws.String("dir/")})
		if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "dir/a b.bin" {
			t.Fatalf("list: %+v %v", list, err)
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("missing")})
		var nsk *s3types.NoSuchKey
		if !errors.As(err, &nsk) {
			t.Fatalf("want *types.NoSuchKey, got %T %v", err, err)
		}
		// Virtual-hosted addressing reaches the same bucket.
		// The names need no DNS: the client dials the server whatever the host is.
		vh := s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String("http://s3.localhost:" + portOf(s.Addr))
			o.HTTPClient = &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, s.Addr)
				},
			}}
		})
		head, err := vh.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("data"), Key: aws.String("dir/a b.bin")})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(len(body)) {
			t.Fatalf("virtual-hosted head: %+v %v", head, err)
		}
	})

	t.Run("rpcv2cbor", func(t *testing.T) {
		c := cloudwatch.NewFromConfig(cfg)
		_, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
			Namespace: aws.String("App"),
			MetricData: []cwtypes.MetricDatum{{
				MetricName: aws.String("Requests"), Value: aws.Float64(3), Timestamp: aws.Time(time.Now()),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("Stage"), Value: aws.String("prod")}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("App")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Metrics) != 1 || aws.ToString(out.Metrics[0].MetricName) != "Requests" || aws.ToString(out.Metrics[0].Dimensions[0].Value) != "prod" {
			t.Fatalf("metrics: %+v", out.Metrics)
		}
		_, err = c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
		wantCode(t, err, "NotImplemented", 501)
	})
}

func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want error %s, got %T %v", code, err, err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("want HTTP %d, got %v", status, err)
	}
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}
