package rpcv2cbor

import (
	"context"
	"errors"
	"fmt"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	cwapi "github.com/overcast-cloud/overcast/api/cloudwatch"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

// answer is a scripted server operation: it sees the decoded input and returns an output tree or an error.
type answer func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error)

// newCloudWatch starts a server that routes /service/<Service>/operation/<Operation> into the CloudWatch model
// and decodes and encodes with the codec, and returns the real aws-sdk-go-v2 CloudWatch client, which speaks
// rpcv2Cbor, pointed at it. seen records the request headers of the last call.
func newCloudWatch(t *testing.T, fn answer) (*cloudwatch.Client, *http.Header) {
	t.Helper()
	svc := cwapi.Model()
	var (
		mu   sync.Mutex
		seen http.Header
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		var service, name string
		if _, err := fmt.Sscanf(strings.ReplaceAll(r.URL.Path, "/", " "), " service %s operation %s", &service, &name); err != nil {
			t.Errorf("unroutable path %s", r.URL.Path)
		}
		op, ok := svc.Operations[name]
		if r.Method != http.MethodPost || service != svc.TargetPrefix || !ok {
			t.Errorf("unroutable request %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if got := r.Header.Get(ProtocolHeader); got != ProtocolName {
			t.Errorf("%s: %s %q", name, ProtocolHeader, got)
		}
		in, err := Codec{}.DecodeRequest(op, r)
		if err != nil {
			t.Errorf("%s: decode: %v", name, err)
			Codec{}.EncodeError(w, svc, &protocol.Error{Code: SerializationException, Message: err.Error(), Status: 400, Sender: true}, "req-err")
			return
		}
		out, apiErr := fn(t, name, in)
		if apiErr != nil {
			Codec{}.EncodeError(w, svc, apiErr, "req-err")
			return
		}
		if err := (Codec{}).EncodeResponse(w, op, out, "req-ok"); err != nil {
			t.Errorf("%s: encode: %v", name, err)
		}
	}))
	t.Cleanup(srv.Close)
	client := cloudwatch.New(cloudwatch.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient:       testutil.SDKHTTPClient(),
	})
	return client, &seen
}

func TestSDKListMetrics(t *testing.T) {
	client, _ := newCloudWatch(t, func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		want := map[string]any{
			"Namespace":      "AWS/EC2",
			"RecentlyActive": "PT3H",
			"Dimensions":     []any{map[string]any{"Name": "InstanceId", "Value": "i-0abc"}},
		}
		if op != "ListMetrics" || !reflect.DeepEqual(in, want) {
			t.Errorf("server saw %s %#v", op, in)
		}
		return map[string]any{
			"Metrics": []any{
				map[string]any{"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
					"Dimensions": []any{map[string]any{"Name": "InstanceId", "Value": "i-0abc"}}},
				map[string]any{"Namespace": "AWS/EC2", "MetricName": "NetworkIn", "Dimensions": []any{}},
			},
			"NextToken":      "next",
			"OwningAccounts": []any{"000000000000"},
		}, nil
	})
	out, err := client.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{
		Namespace:      aws.String("AWS/EC2"),
		RecentlyActive: types.RecentlyActivePt3h,
		Dimensions:     []types.DimensionFilter{{Name: aws.String("InstanceId"), Value: aws.String("i-0abc")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Metrics) != 2 || aws.ToString(out.Metrics[0].MetricName) != "CPUUtilization" ||
		aws.ToString(out.Metrics[0].Dimensions[0].Value) != "i-0abc" || aws.ToString(out.NextToken) != "next" ||
		!reflect.DeepEqual(out.OwningAccounts, []string{"000000000000"}) {
		t.Errorf("client read %+v", out)
	}
}

func TestSDKGetMetricData(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	end := start.Add(90*time.Minute + 123*time.Millisecond)
	client, _ := newCloudWatch(t, func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		want := map[string]any{
			"StartTime":     start,
			"EndTime":       end,
			"MaxDatapoints": int64(100800),
			"MetricDataQueries": []any{map[string]any{
				"Id":         "cpu",
				"ReturnData": true,
				"MetricStat": map[string]any{
					"Metric": map[string]any{"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
						"Dimensions": []any{map[string]any{"Name": "InstanceId", "Value": "i-0abc"}}},
					"Period": int64(60),
					"Stat":   "Average",
				},
			}},
		}
		if !reflect.DeepEqual(in, want) {
			t.Errorf("server saw\n%#v\nwant\n%#v", in, want)
		}
		return map[string]any{
			"MetricDataResults": []any{map[string]any{
				"Id":         "cpu",
				"Label":      "CPUUtilization",
				"StatusCode": "Complete",
				"Timestamps": []any{start, start.Add(time.Minute + 500*time.Millisecond)},
				"Values":     []any{0.1, 1e300, 42.0, math.MaxFloat64},
			}},
			"Messages": []any{map[string]any{"Code": "PartialData", "Value": "more"}},
		}, nil
	})
	out, err := client.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime:     aws.Time(start),
		EndTime:       aws.Time(end),
		MaxDatapoints: aws.Int32(100800),
		MetricDataQueries: []types.MetricDataQuery{{
			Id:         aws.String("cpu"),
			ReturnData: aws.Bool(true),
			MetricStat: &types.MetricStat{
				Metric: &types.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String("CPUUtilization"),
					Dimensions: []types.Dimension{{Name: aws.String("InstanceId"), Value: aws.String("i-0abc")}}},
				Period: aws.Int32(60),
				Stat:   aws.String("Average"),
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.MetricDataResults[0]
	if r.StatusCode != types.StatusCodeComplete || !reflect.DeepEqual(r.Values, []float64{0.1, 1e300, 42, math.MaxFloat64}) {
		t.Errorf("client read %+v", r)
	}
	if len(r.Timestamps) != 2 || !r.Timestamps[0].Equal(start) || !r.Timestamps[1].Equal(start.Add(time.Minute+500*time.Millisecond)) {
		t.Errorf("client read timestamps %v", r.Timestamps)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Code) != "PartialData" {
		t.Errorf("client read messages %+v", out.Messages)
	}
}

// TestSDKPutMetricData sends lists, maps and a body big enough for the SDK to gzip it; PutMetricData has no
// output, which the SDK must accept as an empty answer.
func TestSDKPutMetricData(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 250_000_000, time.UTC)
	values := make([]float64, 2000)
	counts := make([]float64, len(values))
	wantValues, wantCounts := make([]any, len(values)), make([]any, len(values))
	for i := range values {
		values[i], counts[i] = float64(i)+0.5, float64(i%7+1)
		wantValues[i], wantCounts[i] = values[i], counts[i]
	}
	client, seen := newCloudWatch(t, func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		want := map[string]any{
			"Namespace":              "App",
			"StrictEntityValidation": false,
			"MetricData": []any{map[string]any{
				"MetricName":        "Latency",
				"Unit":              "Milliseconds",
				"Timestamp":         at,
				"StorageResolution": int64(1),
				"Dimensions":        []any{map[string]any{"Name": "Route", "Value": "/api"}},
				"Values":            wantValues,
				"Counts":            wantCounts,
			}},
			"EntityMetricData": []any{map[string]any{
				"Entity": map[string]any{
					"KeyAttributes": map[string]any{"Type": "Service", "Name": "checkout", "Environment": "prod"},
					"Attributes":    map[string]any{"PlatformType": "Generic"},
				},
				"MetricData": []any{map[string]any{
					"MetricName":      "Orders",
					"Value":           3.0,
					"StatisticValues": map[string]any{"SampleCount": 2.0, "Sum": 3.0, "Minimum": 1.0, "Maximum": 2.0},
				}},
			}},
		}
		if !reflect.DeepEqual(in, want) {
			t.Errorf("server saw a different PutMetricData:\n%#v", in)
		}
		return nil, nil
	})
	_, err := client.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{
		Namespace:              aws.String("App"),
		StrictEntityValidation: aws.Bool(false),
		MetricData: []types.MetricDatum{{
			MetricName:        aws.String("Latency"),
			Unit:              types.StandardUnitMilliseconds,
			Timestamp:         aws.Time(at),
			StorageResolution: aws.Int32(1),
			Dimensions:        []types.Dimension{{Name: aws.String("Route"), Value: aws.String("/api")}},
			Values:            values,
			Counts:            counts,
		}},
		EntityMetricData: []types.EntityMetricData{{
			Entity: &types.Entity{
				KeyAttributes: map[string]string{"Type": "Service", "Name": "checkout", "Environment": "prod"},
				Attributes:    map[string]string{"PlatformType": "Generic"},
			},
			MetricData: []types.MetricDatum{{
				MetricName:      aws.String("Orders"),
				Value:           aws.Float64(3),
				StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(2), Sum: aws.Float64(3), Minimum: aws.Float64(1), Maximum: aws.Float64(2)},
			}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if enc := seen.Get("Content-Encoding"); enc != "gzip" {
		t.Errorf("the SDK sent Content-Encoding %q; this test means to cover a compressed body", enc)
	}
}

func TestSDKErrors(t *testing.T) {
	svc := cwapi.Model()
	errs := map[string]*protocol.Error{
		// Code is the query code CloudWatch users know; Type the exception shape the SDK deserializes.
		"GetDashboard": {Code: "ResourceNotFound", Type: "DashboardNotFoundError", Message: "Dashboard ops does not exist",
			Status: 404, Sender: true, Shape: svc.Shapes["DashboardNotFoundError"]},
		"DeleteAlarms": {Code: "ResourceNotFound", Message: "alarm gone", Status: 404, Sender: true, Shape: svc.Shapes["ResourceNotFound"]},
		"GetMetricStream": {Code: "ResourceNotFoundException", Message: "no stream", Status: 404, Sender: true,
			Shape: svc.Shapes["ResourceNotFoundException"], Fields: map[string]any{"ResourceId": "s-1", "ResourceType": "MetricStream"}},
		"DeleteAnomalyDetector": {Code: "InternalServiceError", Message: "boom", Status: 500, Shape: svc.Shapes["InternalServiceFault"], Type: "InternalServiceFault"},
		"ListDashboards":        {Code: "Throttling", Message: "Rate exceeded", Status: 400, Sender: true},
	}
	client, _ := newCloudWatch(t, func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		return nil, errs[op]
	})
	ctx := context.Background()

	_, err := client.GetDashboard(ctx, &cloudwatch.GetDashboardInput{DashboardName: aws.String("ops")})
	var dashboard *types.DashboardNotFoundError
	if !errors.As(err, &dashboard) || dashboard.ErrorCode() != "ResourceNotFound" || dashboard.ErrorMessage() != "Dashboard ops does not exist" {
		t.Errorf("GetDashboard error %T %v", err, err)
	}

	_, err = client.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{"a"}})
	var notFound *types.ResourceNotFound
	if !errors.As(err, &notFound) || notFound.ErrorCode() != "ResourceNotFound" || notFound.ErrorMessage() != "alarm gone" {
		t.Errorf("DeleteAlarms error %T %v", err, err)
	}

	_, err = client.GetMetricStream(ctx, &cloudwatch.GetMetricStreamInput{Name: aws.String("s")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || aws.ToString(rnf.ResourceId) != "s-1" || aws.ToString(rnf.ResourceType) != "MetricStream" || rnf.ErrorMessage() != "no stream" {
		t.Errorf("GetMetricStream error %T %v", err, err)
	}

	_, err = client.DeleteAnomalyDetector(ctx, &cloudwatch.DeleteAnomalyDetectorInput{})
	var fault *types.InternalServiceFault
	if !errors.As(err, &fault) || fault.ErrorCode() != "InternalServiceError" || fault.ErrorMessage() != "boom" {
		t.Errorf("DeleteAnomalyDetector error %T %v", err, err)
	}

	_, err = client.ListDashboards(ctx, &cloudwatch.ListDashboardsInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "Throttling" || apiErr.ErrorMessage() != "Rate exceeded" || apiErr.ErrorFault() != smithy.FaultClient {
		t.Errorf("ListDashboards error %T %v", err, err)
	}
}
