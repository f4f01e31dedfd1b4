package restjson

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/overcast-cloud/overcast/api/batch"
	"github.com/overcast-cloud/overcast/api/lambda"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
)

type lambdaServer struct {
	t       *testing.T
	router  *httpbind.Router
	answers map[string]func(in map[string]any) (map[string]any, *protocol.Error)
}

func (s *lambdaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	codec := New()
	op, ok := s.router.MatchRequest(r)
	if !ok {
		s.t.Errorf("no route for %s %s", r.Method, r.URL)
		codec.EncodeError(w, lambda.Model(), &protocol.Error{Code: "UnknownOperationException", Status: 404, Sender: true}, "REQ")
		return
	}
	in, err := codec.DecodeRequest(op, r)
	if err != nil {
		s.t.Errorf("%s: %v", op.Name, err)
		return
	}
	out, perr := s.answers[op.Name](in)
	if perr != nil {
		codec.EncodeError(w, lambda.Model(), perr, "REQ")
		return
	}
	if err := codec.EncodeResponse(w, op, out, "REQ"); err != nil {
		s.t.Errorf("%s: encoding: %v", op.Name, err)
	}
}

// TestLambdaClientReadsAnswers drives the codec with aws-sdk-go-v2's Lambda client.
func TestLambdaClientReadsAnswers(t *testing.T) {
	var created, listed, invoked map[string]any
	fn := map[string]any{"FunctionName": "hello", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hello",
		"Runtime": "python3.12", "MemorySize": int64(256), "Timeout": int64(30),
		"Environment": map[string]any{"Variables": map[string]any{"STAGE": "dev"}}}
	srv := httptest.NewServer(&lambdaServer{t: t, router: httpbind.NewRouter(lambda.Model()), answers: map[string]func(map[string]any) (map[string]any, *protocol.Error){
		"CreateFunction": func(in map[string]any) (map[string]any, *protocol.Error) { created = in; return fn, nil },
		"ListFunctions": func(in map[string]any) (map[string]any, *protocol.Error) {
			listed = in
			return map[string]any{"Functions": []any{fn}, "NextMarker": "m2"}, nil
		},
		"GetFunction": func(in map[string]any) (map[string]any, *protocol.Error) {
			if in["FunctionName"] != "hello" {
				return nil, &protocol.Error{Code: "ResourceNotFoundException", Message: "Function not found: " + in["FunctionName"].(string), Status: 404, Sender: true}
			}
			return map[string]any{"Configuration": fn, "Code": map[string]any{"RepositoryType": "S3", "Location": "https://example/code.zip"}}, nil
		},
		"Invoke": func(in map[string]any) (map[string]any, *protocol.Error) {
			invoked = in
			return map[string]any{"StatusCode": int64(200), "Payload": []byte(`{"ok":true}`), "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST"}, nil
		},
	}})
	defer srv.Close()
	client := awslambda.New(awslambda.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, HTTPClient: testutil.SDKHTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	ctx := context.Background()

	out, err := client.CreateFunction(ctx, &awslambda.CreateFunctionInput{
		FunctionName: aws.String("hello"), Role: aws.String("arn:aws:iam::123456789012:role/r"), Runtime: types.RuntimePython312,
		Handler: aws.String("app.handler"), Code: &types.FunctionCode{ZipFile: []byte("PK\x03\x04zip")},
		Environment: &types.Environment{Variables: map[string]string{"STAGE": "dev"}}, MemorySize: aws.Int32(256),
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.FunctionArn) != fn["FunctionArn"] || aws.ToInt32(out.MemorySize) != 256 || out.Environment.Variables["STAGE"] != "dev" {
		t.Errorf("CreateFunction read as %+v", out)
	}
	code, _ := created["Code"].(map[string]any)
	if !reflect.DeepEqual(code["ZipFile"], []byte("PK\x03\x04zip")) || created["MemorySize"] != int64(256) || created["Runtime"] != "python3.12" {
		t.Errorf("CreateFunction decoded as %v", created)
	}

	list, err := client.ListFunctions(ctx, &awslambda.ListFunctionsInput{Marker: aws.String("m1"), MaxItems: aws.Int32(5)})
	if err != nil || len(list.Functions) != 1 || aws.ToString(list.NextMarker) != "m2" {
		t.Fatalf("ListFunctions: %+v %v", list, err)
	}
	if listed["Marker"] != "m1" || listed["MaxItems"] != int64(5) {
		t.Errorf("ListFunctions decoded as %v", listed)
	}

	got, err := client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("hello")})
	if err != nil || aws.ToString(got.Configuration.FunctionName) != "hello" || aws.ToString(got.Code.Location) != "https://example/code.zip" {
		t.Errorf("GetFunction: %+v %v", got, err)
	}
	_, err = client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("nope")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || aws.ToString(rnf.Message) != "Function not found: nope" || aws.ToString(rnf.Type) != "User" {
		t.Errorf("GetFunction of a missing function: %#v", err)
	}

	inv, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("hello"), Payload: []byte(`{"x":1}`), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatal(err)
	}
	if string(inv.Payload) != `{"ok":true}` || inv.StatusCode != 200 || aws.ToString(inv.FunctionError) != "Unhandled" || aws.ToString(inv.ExecutedVersion) != "$LATEST" {
		t.Errorf("Invoke read as %+v", inv)
	}
	if !reflect.DeepEqual(invoked["Payload"], []byte(`{"x":1}`)) || invoked["LogType"] != "Tail" || invoked["FunctionName"] != "hello" {
		t.Errorf("Invoke decoded as %v", invoked)
	}
}

func TestErrorBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  *wire.Service
		err  *protocol.Error
		want map[string]any
	}{
		{"lambda", lambda.Model(), &protocol.Error{Code: "ResourceNotFoundException", Message: "gone", Status: 404, Sender: true},
			map[string]any{"Message": "gone", "Type": "User"}},
		{"batch", batch.Model(), &protocol.Error{Code: "ClientException", Message: "bad queue", Status: 400, Sender: true},
			map[string]any{"message": "bad queue"}},
		{"unmodeled", lambda.Model(), &protocol.Error{Code: "AccessDeniedException", Message: "no", Status: 403, Sender: true, Fields: map[string]any{"Reason": "x"}},
			map[string]any{"message": "no", "Reason": "x"}},
	} {
		rec := httptest.NewRecorder()
		New().EncodeError(rec, tc.svc, tc.err, "REQ")
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", tc.name, err, rec.Body)
		}
		if !reflect.DeepEqual(body, tc.want) || rec.Code != tc.err.Status || rec.Header().Get("X-Amzn-ErrorType") != tc.err.Code ||
			rec.Header().Get("x-amzn-RequestId") != "REQ" {
			t.Errorf("%s: %d %v %s", tc.name, rec.Code, rec.Header(), rec.Body)
		}
	}
}
