package query

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	sdkiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc/protocoltest"
)

const requestID = "11111111-2222-3333-4444-555555555555"

func op(t testing.TB, name string) *wire.Operation {
	t.Helper()
	return protocoltest.Operation(t, iam.Model(), name)
}

// client is an aws-sdk-go-v2 IAM client talking to a server that runs this codec with h.
func client(t *testing.T, h protocoltest.Handler) *sdkiam.Client {
	return sdkiam.NewFromConfig(protocoltest.SDKConfig(t, iam.Model(), New(), h))
}

var created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func alice() map[string]any {
	return map[string]any{
		"UserName": "alice", "UserId": "AIDAEXAMPLE1", "Path": "/",
		"Arn": "arn:aws:iam::123456789012:user/alice", "CreateDate": created,
	}
}

func TestCreateUserXML(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := New().EncodeResponse(rec, op(t, "CreateUser"), map[string]any{"User": alice()}, requestID); err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreateUserResult><User>` +
		`<Arn>arn:aws:iam::123456789012:user/alice</Arn><CreateDate>2026-01-02T03:04:05Z</CreateDate>` +
		`<Path>/</Path><UserId>AIDAEXAMPLE1</UserId><UserName>alice</UserName>` +
		`</User></CreateUserResult><ResponseMetadata><RequestId>` + requestID + `</RequestId></ResponseMetadata>` +
		`</CreateUserResponse>`
	if got := rec.Body.String(); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/xml" || rec.Header().Get("x-amzn-RequestId") != requestID {
		t.Errorf("status %d, headers %v", rec.Code, rec.Header())
	}
}

func TestNoOutputAndEmptyResult(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := New().EncodeResponse(rec, op(t, "DeleteUser"), nil, requestID); err != nil {
		t.Fatal(err)
	}
	want := `<DeleteUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata><RequestId>` +
		requestID + `</RequestId></ResponseMetadata></DeleteUserResponse>`
	if got := rec.Body.String(); !strings.HasSuffix(got, want) {
		t.Errorf("body\n got %s\nwant …%s", got, want)
	}

	rec = httptest.NewRecorder()
	if err := New().EncodeResponse(rec, op(t, "ListUsers"), map[string]any{"Users": []any{}, "IsTruncated": false}, requestID); err != nil {
		t.Fatal(err)
	}
	want = `<ListUsersResult><IsTruncated>false</IsTruncated><Users/></ListUsersResult>`
	if got := rec.Body.String(); !strings.Contains(got, want) {
		t.Errorf("body\n got %s\nwant …%s…", got, want)
	}
}

// TestCreateUserWithSDK checks what the codec decodes from aws-sdk-go-v2's CreateUser (a list of structures
// as Tags.member.N.Key) and what the SDK reads back, including a timestamp with milliseconds and text that
// needs escaping.
func TestCreateUserWithSDK(t *testing.T) {
	var got map[string]any
	withMillis := created.Add(123 * time.Millisecond)
	c := client(t, func(o *wire.Operation, in map[string]any) (map[string]any, *protocol.Error) {
		got = in
		u := alice()
		u["CreateDate"] = withMillis
		u["Path"] = "/a&b<c>/\r\n/"
		u["Tags"] = []any{map[string]any{"Key": "team", "Value": "ünïcode"}}
		return map[string]any{"User": u}, nil
	})
	out, err := c.CreateUser(context.Background(), &sdkiam.CreateUserInput{
		UserName:            aws.String("alice"),
		Path:                aws.String("/"),
		PermissionsBoundary: aws.String("arn:aws:iam::aws:policy/PowerUserAccess"),
		Tags:                []types.Tag{{Key: aws.String("team"), Value: aws.String("a b&c=d")}, {Key: aws.String("env"), Value: aws.String("")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"UserName": "alice", "Path": "/", "PermissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess",
		"Tags": []any{map[string]any{"Key": "team", "Value": "a b&c=d"}, map[string]any{"Key": "env", "Value": ""}},
	}
	if !protocoltest.Equal(got, want) {
		t.Errorf("decoded\n %#v\nwant\n %#v", got, want)
	}
	u := out.User
	if aws.ToString(u.UserName) != "alice" || aws.ToString(u.Path) != "/a&b<c>/\r\n/" || !aws.ToTime(u.CreateDate).Equal(withMillis) ||
		len(u.Tags) != 1 || aws.ToString(u.Tags[0].Value) != "ünïcode" {
		t.Errorf("user %+v", u)
	}
}

func TestListUsersWithSDK(t *testing.T) {
	c := client(t, func(o *wire.Operation, in map[string]any) (map[string]any, *protocol.Error) {
		if in["MaxItems"] != int64(2) {
			t.Errorf("MaxItems %#v", in["MaxItems"])
		}
		bob := alice()
		bob["UserName"] = "bob"
		return map[string]any{"Users": []any{alice(), bob}, "IsTruncated": true, "Marker": "next"}, nil
	})
	out, err := c.ListUsers(context.Background(), &sdkiam.ListUsersInput{MaxItems: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Users) != 2 || aws.ToString(out.Users[1].UserName) != "bob" || !out.IsTruncated || aws.ToString(out.Marker) != "next" {
		t.Errorf("output %+v", out)
	}
}

func TestErrorWithSDK(t *testing.T) {
	e := &protocol.Error{Code: "NoSuchEntity", Message: "The user with name bob cannot be found.", Status: 404, Sender: true}
	rec := httptest.NewRecorder()
	New().EncodeError(rec, iam.Model(), e, requestID)
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>` +
		`<Code>NoSuchEntity</Code><Message>The user with name bob cannot be found.</Message></Error>` +
		`<RequestId>` + requestID + `</RequestId></ErrorResponse>`
	if got := rec.Body.String(); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if rec.Code != 404 || rec.Header().Get("x-amzn-RequestId") != requestID {
		t.Errorf("status %d, headers %v", rec.Code, rec.Header())
	}

	c := client(t, func(*wire.Operation, map[string]any) (map[string]any, *protocol.Error) { return nil, e })
	_, err := c.GetUser(context.Background(), &sdkiam.GetUserInput{UserName: aws.String("bob")})
	var nse *types.NoSuchEntityException
	if !errors.As(err, &nse) || nse.ErrorMessage() != e.Message {
		t.Fatalf("error %v, want NoSuchEntityException", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.ServiceRequestID() != requestID || re.HTTPStatusCode() != 404 {
		t.Errorf("response error %v", err)
	}

	rec = httptest.NewRecorder()
	New().EncodeError(rec, iam.Model(), &protocol.Error{Code: "ServiceFailure", Message: "boom"}, requestID)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "<Type>Receiver</Type>") {
		t.Errorf("receiver fault: status %d, body %s", rec.Code, rec.Body)
	}
}

// TestErrorFields checks that members of a modeled exception beyond its message are written inside Error.
func TestErrorFields(t *testing.T) {
	spec, err := wire.ParseBotocoreParts([]byte(`{"protocol":"query","apiVersion":"2020-01-01","endpointPrefix":"svc"}`), nil, []byte(`{
		"Busy": {"type":"structure","exception":true,"members":{"Message":{"shape":"S"},"RetryAfter":{"shape":"I"}}},
		"S": {"type":"string"}, "I": {"type":"integer"}}`))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := wire.Build("svc", spec)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	New().EncodeError(rec, svc, &protocol.Error{Code: "Busy", Message: "later", Status: 400, Sender: true, Shape: svc.Shapes["Busy"],
		Fields: map[string]any{"Message": "later", "RetryAfter": int64(5)}}, requestID)
	want := `<ErrorResponse xmlns="https://svc.amazonaws.com/doc/2020-01-01/"><Error><Type>Sender</Type><Code>Busy</Code>` +
		`<Message>later</Message><RetryAfter>5</RetryAfter></Error>`
	if got := rec.Body.String(); !strings.Contains(got, want) {
		t.Errorf("body\n got %s\nwant …%s…", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ body, code, key string }{
		{"MaxItems=ten", CodeValidationError, "MaxItems"},
		{"MaxItems=1.5", CodeValidationError, "MaxItems"},
		{"Marker=%zz", CodeMalformedQueryString, ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=ListUsers&Version=2010-05-08&"+tc.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := New().DecodeRequest(op(t, "ListUsers"), r)
		var de *protocol.DecodeError
		if !errors.As(err, &de) || de.Code != tc.code || !strings.Contains(de.Message, tc.key) {
			t.Errorf("%s: error %#v, want code %s naming %s", tc.body, err, tc.code, tc.key)
		}
	}
}

func TestDecodeGET(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/?Action=ListUsers&Version=2010-05-08&PathPrefix=%2Fadmins%2F&MaxItems=10&Unknown=1", nil)
	got, err := New().DecodeRequest(op(t, "ListUsers"), r)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"PathPrefix": "/admins/", "MaxItems": int64(10)}; !protocoltest.Equal(got, want) {
		t.Errorf("decoded %#v, want %#v", got, want)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		"Action=CreateUser&Version=2010-05-08&UserName=alice&Tags.member.1.Key=a&Tags.member.1.Value=b",
		"Tags=&Tags.member.0.Key=x&Tags.member.2.Value=y&Tags.member..Key=z",
		"MaxItems=10&Marker=abc&PathPrefix=/",
		"PolicyDocument=%7B%7D&Tags.member.1.Key.member.1=deep",
		"MaxItems=99999999999&OnlyAttached=TRUE&PolicyUsageFilter=Bad",
	} {
		f.Add(seed)
	}
	ops := []*wire.Operation{op(f, "CreateUser"), op(f, "ListUsers"), op(f, "ListPolicies"), op(f, "CreatePolicy")}
	f.Fuzz(func(t *testing.T, body string) {
		for _, o := range ops {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if _, err := New().DecodeRequest(o, r); err != nil {
				var de *protocol.DecodeError
				if !errors.As(err, &de) || de.Code == "" {
					t.Fatalf("%s: error %v is not a DecodeError with a code", o.Name, err)
				}
			}
		}
	})
}
