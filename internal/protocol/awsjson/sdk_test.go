package awsjson

import (
	"context"
	"errors"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	ecsapi "github.com/overcast-cloud/overcast/api/ecs"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
)

// answer is a scripted server operation: it sees the decoded input and returns an output tree or an error.
type answer func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error)

// serve starts a server that routes by X-Amz-Target into svc and decodes and encodes with the codec; it
// returns the server's URL.
func serve(t *testing.T, svc *wire.Service, fn answer) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix, name, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		op, ok := svc.Operations[name]
		if r.Method != http.MethodPost || prefix != svc.TargetPrefix || !ok {
			t.Errorf("unroutable request %s %s X-Amz-Target %q", r.Method, r.URL, r.Header.Get("X-Amz-Target"))
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != ContentType(svc) {
			t.Errorf("client sent Content-Type %q, codec speaks %q", ct, ContentType(svc))
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
	return srv.URL
}

// newECS returns a real aws-sdk-go-v2 ECS client pointed at a server scripted by fn.
func newECS(t *testing.T, svc *wire.Service, fn answer) *ecs.Client {
	return ecs.New(ecs.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(serve(t, svc, fn)),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient:       testutil.SDKHTTPClient(),
	})
}

func TestECSListClusters(t *testing.T) {
	client := newECS(t, ecsapi.Model(), func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		want := map[string]any{"maxResults": int64(2), "nextToken": "page-1"}
		if op != "ListClusters" || !reflect.DeepEqual(in, want) {
			t.Errorf("server saw %s %#v, want ListClusters %#v", op, in, want)
		}
		return map[string]any{
			"clusterArns": []any{
				"arn:aws:ecs:us-east-1:000000000000:cluster/default",
				"arn:aws:ecs:us-east-1:000000000000:cluster/<web & batch>",
			},
			"nextToken": "page-2",
		}, nil
	})
	out, err := client.ListClusters(context.Background(), &ecs.ListClustersInput{MaxResults: aws.Int32(2), NextToken: aws.String("page-1")})
	if err != nil {
		t.Fatal(err)
	}
	wantArns := []string{
		"arn:aws:ecs:us-east-1:000000000000:cluster/default",
		"arn:aws:ecs:us-east-1:000000000000:cluster/<web & batch>",
	}
	if !reflect.DeepEqual(out.ClusterArns, wantArns) || aws.ToString(out.NextToken) != "page-2" {
		t.Errorf("client read %v %q", out.ClusterArns, aws.ToString(out.NextToken))
	}
}

// TestECSTaskDefinition sends nested structures, lists, maps and integers from the SDK and answers with a
// fractional timestamp, checking both directions against what the SDK user wrote and reads.
func TestECSTaskDefinition(t *testing.T) {
	registered := time.Date(2024, 5, 17, 9, 30, 12, 250_000_000, time.UTC)
	client := newECS(t, ecsapi.Model(), func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		want := map[string]any{
			"family": "web",
			"cpu":    "256",
			"containerDefinitions": []any{map[string]any{
				"name":         "nginx",
				"image":        "nginx:1.27",
				"memory":       int64(512),
				"essential":    true,
				"portMappings": []any{map[string]any{"containerPort": int64(80), "hostPort": int64(8080), "protocol": "tcp"}},
				"dockerLabels": map[string]any{"team": "edge", "tier": "front"},
			}},
			"tags": []any{map[string]any{"key": "env", "value": "dev"}},
		}
		if !reflect.DeepEqual(in, want) {
			t.Errorf("server saw\n%#v\nwant\n%#v", in, want)
		}
		return map[string]any{"taskDefinition": map[string]any{
			"family":               "web",
			"revision":             int64(3),
			"registeredAt":         registered,
			"containerDefinitions": in["containerDefinitions"],
		}}, nil
	})
	out, err := client.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web"),
		Cpu:    aws.String("256"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:         aws.String("nginx"),
			Image:        aws.String("nginx:1.27"),
			Memory:       aws.Int32(512),
			Essential:    aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080), Protocol: types.TransportProtocolTcp}},
			DockerLabels: map[string]string{"team": "edge", "tier": "front"},
		}},
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	td := out.TaskDefinition
	if td == nil || td.Revision != 3 || !td.RegisteredAt.Equal(registered) {
		t.Fatalf("client read %+v", td)
	}
	if c := td.ContainerDefinitions[0]; aws.ToInt32(c.Memory) != 512 || *c.PortMappings[0].HostPort != 8080 || c.DockerLabels["tier"] != "front" {
		t.Errorf("client read container %+v", c)
	}
}

func TestECSErrors(t *testing.T) {
	svc := ecsapi.Model()
	errs := map[string]*protocol.Error{
		"DeleteCluster": {Code: "ClusterNotFoundException", Message: "Cluster not found.", Status: 400, Sender: true,
			Shape: svc.Shapes["ClusterNotFoundException"]},
		"UpdateTaskProtection": {Code: "ConflictException", Message: "Task is stopping.", Status: 400, Sender: true,
			Shape: svc.Shapes["ConflictException"], Fields: map[string]any{"resourceIds": []any{"task-1", "task-2"}}},
		"ListServices": {Code: "ThrottlingException", Message: "Rate exceeded", Status: 400, Sender: true},
	}
	client := newECS(t, svc, func(t *testing.T, op string, in map[string]any) (map[string]any, *protocol.Error) {
		return nil, errs[op]
	})
	ctx := context.Background()

	_, err := client.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("nope")})
	var notFound *types.ClusterNotFoundException
	if !errors.As(err, &notFound) || notFound.ErrorMessage() != "Cluster not found." || notFound.ErrorCode() != "ClusterNotFoundException" {
		t.Errorf("DeleteCluster error %T %v", err, err)
	}

	_, err = client.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String("c"), Tasks: []string{"task-1"}, ProtectionEnabled: true})
	var conflict *types.ConflictException
	if !errors.As(err, &conflict) || !reflect.DeepEqual(conflict.ResourceIds, []string{"task-1", "task-2"}) || conflict.ErrorMessage() != "Task is stopping." {
		t.Errorf("UpdateTaskProtection error %T %v", err, err)
	}

	_, err = client.ListServices(ctx, &ecs.ListServicesInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ThrottlingException" || apiErr.ErrorMessage() != "Rate exceeded" {
		t.Errorf("ListServices error %T %v", err, err)
	}
}
