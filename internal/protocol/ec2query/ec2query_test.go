package ec2query

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/xmlenc/protocoltest"
)

const requestID = "11111111-2222-3333-4444-555555555555"

func op(t testing.TB, name string) *wire.Operation {
	t.Helper()
	return protocoltest.Operation(t, ec2.Model(), name)
}

// client is an aws-sdk-go-v2 EC2 client talking to a server that runs this codec with h.
func client(t *testing.T, h protocoltest.Handler) *sdkec2.Client {
	return sdkec2.NewFromConfig(protocoltest.SDKConfig(t, ec2.Model(), New(), h))
}

func TestDescribeRegionsXML(t *testing.T) {
	rec := httptest.NewRecorder()
	out := map[string]any{"Regions": []any{
		map[string]any{"RegionName": "us-east-1", "Endpoint": "ec2.us-east-1.amazonaws.com", "OptInStatus": "opt-in-not-required"},
	}}
	if err := New().EncodeResponse(rec, op(t, "DescribeRegions"), out, requestID); err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
		`<requestId>` + requestID + `</requestId>` +
		`<regionInfo><item><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint>` +
		`<optInStatus>opt-in-not-required</optInStatus><regionName>us-east-1</regionName></item></regionInfo>` +
		`</DescribeRegionsResponse>`
	if got := rec.Body.String(); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if ct, id := rec.Header().Get("Content-Type"), rec.Header().Get("x-amzn-RequestId"); ct != "text/xml" || id != requestID {
		t.Errorf("Content-Type %q, x-amzn-RequestId %q", ct, id)
	}
}

func TestEmptyListIsWrittenAbsentMemberIsNot(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := New().EncodeResponse(rec, op(t, "DescribeInstances"), map[string]any{"Reservations": []any{}}, requestID); err != nil {
		t.Fatal(err)
	}
	want := `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>` + requestID +
		`</requestId><reservationSet/></DescribeInstancesResponse>`
	if got := rec.Body.String(); !strings.HasSuffix(got, want) {
		t.Errorf("body\n got %s\nwant …%s", got, want)
	}

	c := client(t, func(*wire.Operation, map[string]any) (map[string]any, *protocol.Error) {
		return map[string]any{"Reservations": []any{}}, nil
	})
	out, err := c.DescribeInstances(context.Background(), &sdkec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Reservations == nil || len(out.Reservations) != 0 || out.NextToken != nil {
		t.Errorf("Reservations %#v (want empty, not nil), NextToken %v (want nil)", out.Reservations, out.NextToken)
	}
}

// TestRunInstancesWithSDK sends RunInstances from aws-sdk-go-v2 with nested lists (tag specifications with
// tags, block device mappings) and checks both what the codec decodes and what the SDK reads back.
func TestRunInstancesWithSDK(t *testing.T) {
	launch := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var got map[string]any
	c := client(t, func(o *wire.Operation, in map[string]any) (map[string]any, *protocol.Error) {
		if o.Name != "RunInstances" {
			t.Errorf("operation %s", o.Name)
		}
		got = in
		return map[string]any{
			"ReservationId": "r-0123456789abcdef0",
			"OwnerId":       "123456789012",
			"Groups":        []any{},
			"Instances": []any{map[string]any{
				"InstanceId":   "i-0123456789abcdef0",
				"ImageId":      "ami-12345678",
				"InstanceType": "t3.micro",
				"LaunchTime":   launch,
				"State":        map[string]any{"Code": int64(0), "Name": "pending"},
				"Tags":         []any{map[string]any{"Key": "Name", "Value": `web <&> "one"`}},
				"EbsOptimized": false,
			}},
		}, nil
	})
	out, err := c.RunInstances(context.Background(), &sdkec2.RunInstancesInput{
		ImageId:          aws.String("ami-12345678"),
		MinCount:         aws.Int32(1),
		MaxCount:         aws.Int32(2),
		InstanceType:     types.InstanceTypeT3Micro,
		SecurityGroupIds: []string{"sg-1", "sg-2"},
		UserData:         aws.String("IyEvYmluL3No"),
		DryRun:           aws.Bool(false),
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeInstance,
			Tags:         []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}, {Key: aws.String("team"), Value: aws.String("a&b")}},
		}},
		BlockDeviceMappings: []types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs:        &types.EbsBlockDevice{VolumeSize: aws.Int32(20), DeleteOnTermination: aws.Bool(true)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}

	if tok, _ := got["ClientToken"].(string); tok == "" {
		t.Errorf("ClientToken %#v, want the SDK's generated token", got["ClientToken"])
	}
	delete(got, "ClientToken")
	want := map[string]any{
		"ImageId":          "ami-12345678",
		"MinCount":         int64(1),
		"MaxCount":         int64(2),
		"InstanceType":     "t3.micro",
		"SecurityGroupIds": []any{"sg-1", "sg-2"},
		"UserData":         "IyEvYmluL3No",
		"DryRun":           false,
		"TagSpecifications": []any{map[string]any{
			"ResourceType": "instance",
			"Tags": []any{
				map[string]any{"Key": "Name", "Value": "web"},
				map[string]any{"Key": "team", "Value": "a&b"},
			},
		}},
		"BlockDeviceMappings": []any{map[string]any{
			"DeviceName": "/dev/xvda",
			"Ebs":        map[string]any{"VolumeSize": int64(20), "DeleteOnTermination": true},
		}},
	}
	if !protocoltest.Equal(got, want) {
		t.Errorf("decoded\n %#v\nwant\n %#v", got, want)
	}

	if aws.ToString(out.ReservationId) != "r-0123456789abcdef0" || out.Groups == nil || len(out.Instances) != 1 {
		t.Fatalf("reservation %+v", out)
	}
	inst := out.Instances[0]
	if aws.ToString(inst.InstanceId) != "i-0123456789abcdef0" || inst.State.Name != types.InstanceStateNamePending ||
		aws.ToInt32(inst.State.Code) != 0 || !aws.ToTime(inst.LaunchTime).Equal(launch) || inst.InstanceType != types.InstanceTypeT3Micro {
		t.Errorf("instance %+v", inst)
	}
	if len(inst.Tags) != 1 || aws.ToString(inst.Tags[0].Value) != `web <&> "one"` || aws.ToBool(inst.EbsOptimized) {
		t.Errorf("tags %+v, EbsOptimized %v", inst.Tags, inst.EbsOptimized)
	}
}

func TestErrorWithSDK(t *testing.T) {
	e := &protocol.Error{Code: "InvalidInstanceID.NotFound", Message: "The instance ID 'i-1' does not exist", Status: 400, Sender: true}
	rec := httptest.NewRecorder()
	New().EncodeError(rec, ec2.Model(), e, requestID)
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>` +
		`<Message>The instance ID 'i-1' does not exist</Message></Error></Errors>` +
		`<RequestID>` + requestID + `</RequestID></Response>`
	if got := rec.Body.String(); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if rec.Code != 400 || rec.Header().Get("x-amzn-RequestId") != requestID {
		t.Errorf("status %d, headers %v", rec.Code, rec.Header())
	}

	c := client(t, func(*wire.Operation, map[string]any) (map[string]any, *protocol.Error) { return nil, e })
	_, err := c.DescribeInstances(context.Background(), &sdkec2.DescribeInstancesInput{InstanceIds: []string{"i-1"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != e.Code || ae.ErrorMessage() != e.Message {
		t.Fatalf("error %v, want %s: %s", err, e.Code, e.Message)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.ServiceRequestID() != requestID || re.HTTPStatusCode() != 400 {
		t.Errorf("response error %v", err)
	}
}

func TestDecodeGETAndUnknownKeys(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/?Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2"+
		"&Filter.1.Name=instance-state-name&Filter.1.Value.1=running&MaxResults=5&Bogus.1=x", nil)
	got, err := New().DecodeRequest(op(t, "DescribeInstances"), r)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"InstanceIds": []any{"i-1", "i-2"},
		"Filters":     []any{map[string]any{"Name": "instance-state-name", "Values": []any{"running"}}},
		"MaxResults":  int64(5),
	}
	if !protocoltest.Equal(got, want) {
		t.Errorf("decoded %#v\nwant    %#v", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ body, code, key string }{
		{"MaxResults=many", CodeInvalidParameterValue, "MaxResults"},
		{"MaxResults=4294967296", CodeInvalidParameterValue, "MaxResults"},
		{"DryRun=yes", CodeInvalidParameterValue, "DryRun"},
		{"InstanceId.1=%zz", CodeMalformedQueryString, ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=DescribeInstances&Version=2016-11-15&"+tc.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := New().DecodeRequest(op(t, "DescribeInstances"), r)
		var de *protocol.DecodeError
		if !errors.As(err, &de) || de.Code != tc.code || !strings.Contains(de.Message, tc.key) {
			t.Errorf("%s: error %#v, want code %s naming %s", tc.body, err, tc.code, tc.key)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		"Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1",
		"TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.Tag.1.Value=b",
		"BlockDeviceMapping.1.Ebs.VolumeSize=20&BlockDeviceMapping.2.Ebs.DeleteOnTermination=true",
		"Filter.1.Name=x&Filter.1.Value.1=y&Filter.0.Name=z&Filter.-1.Name=w&Filter..Name=v",
		"InstanceId=&InstanceId.99999999999999999999=i&MaxResults=1e9&DryRun=TRUE",
		"NetworkInterface.1.PrivateIpAddresses.1.Primary=true&LaunchTemplate.Version=$Latest",
	} {
		f.Add(seed)
	}
	ops := []*wire.Operation{op(f, "RunInstances"), op(f, "DescribeInstances"), op(f, "CreateTags")}
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

// describeInstancesOutput is a DescribeInstances answer of n instances with the members a real one carries.
func describeInstancesOutput(n int) map[string]any {
	launch := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	instances := make([]any, n)
	for i := range instances {
		id := fmt.Sprintf("i-%017x", i)
		instances[i] = map[string]any{
			"InstanceId": id, "ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.micro",
			"KeyName": "default", "LaunchTime": launch, "AmiLaunchIndex": int64(i),
			"State":            map[string]any{"Code": int64(16), "Name": "running"},
			"Placement":        map[string]any{"AvailabilityZone": "us-east-1a", "Tenancy": "default"},
			"PrivateIpAddress": "10.0.0.10", "PublicIpAddress": "203.0.113.10",
			"PrivateDnsName": "ip-10-0-0-10.ec2.internal", "SubnetId": "subnet-1", "VpcId": "vpc-1",
			"Architecture": "x86_64", "RootDeviceName": "/dev/xvda", "RootDeviceType": "ebs",
			"Hypervisor": "xen", "VirtualizationType": "hvm", "EbsOptimized": false,
			"Monitoring":     map[string]any{"State": "disabled"},
			"SecurityGroups": []any{map[string]any{"GroupId": "sg-1", "GroupName": "default"}},
			"Tags":           []any{map[string]any{"Key": "Name", "Value": "web-" + id}},
			"BlockDeviceMappings": []any{map[string]any{"DeviceName": "/dev/xvda", "Ebs": map[string]any{
				"VolumeId": "vol-1", "Status": "attached", "AttachTime": launch, "DeleteOnTermination": true}}},
			"NetworkInterfaces": []any{map[string]any{
				"NetworkInterfaceId": "eni-1", "SubnetId": "subnet-1", "VpcId": "vpc-1", "Status": "in-use",
				"MacAddress": "02:00:00:00:00:01", "PrivateIpAddress": "10.0.0.10", "SourceDestCheck": true,
				"Groups":     []any{map[string]any{"GroupId": "sg-1", "GroupName": "default"}},
				"Attachment": map[string]any{"AttachmentId": "eni-attach-1", "DeviceIndex": int64(0), "Status": "attached", "AttachTime": launch},
			}},
		}
	}
	return map[string]any{"Reservations": []any{map[string]any{
		"ReservationId": "r-1", "OwnerId": "123456789012", "Groups": []any{}, "Instances": instances,
	}}}
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func BenchmarkEncodeDescribeInstances100(b *testing.B) {
	o := op(b, "DescribeInstances")
	out := describeInstancesOutput(100)
	w := discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		if err := New().EncodeResponse(w, o, out, requestID); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDescribeInstances100 checks that a large answer reads back completely in the SDK.
func TestDescribeInstances100(t *testing.T) {
	c := client(t, func(*wire.Operation, map[string]any) (map[string]any, *protocol.Error) {
		return describeInstancesOutput(100), nil
	})
	out, err := c.DescribeInstances(context.Background(), &sdkec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 100 {
		t.Fatalf("%d reservations", len(out.Reservations))
	}
	last := out.Reservations[0].Instances[99]
	if aws.ToString(last.InstanceId) != fmt.Sprintf("i-%017x", 99) || aws.ToInt32(last.NetworkInterfaces[0].Attachment.DeviceIndex) != 0 ||
		!aws.ToBool(last.BlockDeviceMappings[0].Ebs.DeleteOnTermination) || aws.ToInt32(last.AmiLaunchIndex) != 99 {
		t.Errorf("last instance %+v", last)
	}
}
