package awsjson

import (
	"context"
	"errors"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	smithyjson "github.com/aws/smithy-go/transport/http/protocol/awsjson"

	cwapi "github.com/overcast-cloud/overcast/api/cloudwatch"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

// CloudWatch is awsQueryCompatible: its JSON errors must carry the old query code in x-amzn-query-error while
// __type names the exception shape. The Go SDK's CloudWatch client speaks CBOR by default; here it is switched to
// its awsJson 1.0 protocol, which is what the AWS CLI uses for CloudWatch.
func newCloudWatchJSON(t *testing.T, fn answer) *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(serve(t, cwapi.Model(), fn)),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient:       testutil.SDKHTTPClient(),
	}, func(o *cloudwatch.Options) {
		// New sets the protocol before applying these functions, so it is replaced only here.
		o.Protocol = smithyjson.New10(schemas.GraniteServiceVersion20100801)
	})
}

func TestCloudWatchJSONListMetrics(t *testing.T) {
	client := newCloudWatchJSON(t, func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		want := map[string]any{"Namespace": "AWS/EC2", "Dimensions": []any{map[string]any{"Name": "InstanceId"}}}
		if op != "ListMetrics" || !reflect.DeepEqual(in, want) {
			t.Errorf("server saw %s %#v", op, in)
		}
		return map[string]any{"Metrics": []any{map[string]any{
			"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
			"Dimensions": []any{map[string]any{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}},
		}}}, nil
	})
	out, err := client.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{
		Namespace:  aws.String("AWS/EC2"),
		Dimensions: []types.DimensionFilter{{Name: aws.String("InstanceId")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Metrics) != 1 || aws.ToString(out.Metrics[0].Dimensions[0].Value) != "i-0123456789abcdef0" {
		t.Errorf("client read %+v", out.Metrics)
	}
}

func TestCloudWatchJSONQueryCompatibleError(t *testing.T) {
	svc := cwapi.Model()
	client := newCloudWatchJSON(t, func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		return nil, &protocol.Error{Code: "ResourceNotFound", Type: "DashboardNotFoundError", Message: "Dashboard ops does not exist",
			Status: 404, Sender: true, Shape: svc.Shapes["DashboardNotFoundError"]}
	})
	_, err := client.GetDashboard(context.Background(), &cloudwatch.GetDashboardInput{DashboardName: aws.String("ops")})
	var nf *types.DashboardNotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("error %T %v, want *types.DashboardNotFoundError", err, err)
	}
	// The query code is what CloudWatch users have always matched on.
	if nf.ErrorCode() != "ResourceNotFound" || nf.ErrorMessage() != "Dashboard ops does not exist" {
		t.Errorf("client read code %q message %q", nf.ErrorCode(), nf.ErrorMessage())
	}

	rec := httptest.NewRecorder()
	Codec{}.EncodeError(rec, svc, &protocol.Error{Code: "InternalServiceError", Message: "boom", Status: 500,
		Shape: svc.Shapes["InternalServiceFault"]}, "req-9")
	if got := rec.Header().Get("x-amzn-query-error"); got != "InternalServiceError;Receiver" {
		t.Errorf("x-amzn-query-error %q", got)
	}
	if got := rec.Header().Get("X-Amzn-ErrorType"); got != "InternalServiceFault" {
		t.Errorf("X-Amzn-ErrorType %q", got)
	}
	if got, want := rec.Body.String(), `{"Message":"boom","__type":"InternalServiceFault"}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/x-amz-json-1.0" {
		t.Errorf("status %d Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	// An unmodeled error keeps its code through the query header, and its fault.
	client = newCloudWatchJSON(t, func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		return nil, &protocol.Error{Code: "Throttling", Message: "Rate exceeded", Status: 400, Sender: true}
	})
	_, err = client.ListDashboards(context.Background(), &cloudwatch.ListDashboardsInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "Throttling" || apiErr.ErrorFault() != smithy.FaultClient {
		t.Errorf("error %T %v", err, err)
	}
}
