package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// SDKConfig is a root client of the Overcast at url with retries off, so that a benchmark counts every failed
// call instead of timing a hidden retry. Each call may take up to timeout. With conns > 0 the client keeps at
// most that many connections to the server; with 0 it uses Go's default transport. Either way each request
// gets its own copy of the body (HOST.md: the SDK closes the body early, and against a fast server the
// transport then drops calls).
func SDKConfig(url string, timeout time.Duration, conns int) aws.Config {
	transport := http.DefaultTransport
	if conns > 0 {
		transport = &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	}
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: timeout, Transport: ownBody{transport}},
	}
}

// ownBody hands the transport a copy of the request body that nothing else can close.
type ownBody struct{ next http.RoundTripper }

func (t ownBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return t.next.RoundTrip(r)
}

// IsAPIError says whether err is the server's answer rather than a failure to reach it: only the latter is
// a transport error a benchmark may poll again after.
func IsAPIError(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api)
}

// Sleep waits d, or less if ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// QuickStartAMI waits up to wait for the Amazon-owned AMI whose name matches pattern ("*busybox*") to be
// available, and returns its id. what names the image in the error ("busybox AMI not available: ...").
func QuickStartAMI(ctx context.Context, client *ec2.Client, pattern, what string, wait time.Duration) (string, error) {
	for deadline := time.Now().Add(wait); ; {
		out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{pattern}}}})
		if err == nil && len(out.Images) > 0 && out.Images[0].State == types.ImageStateAvailable {
			return aws.ToString(out.Images[0].ImageId), nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return "", fmt.Errorf("%s AMI not available: %v", what, err)
		}
		time.Sleep(time.Second)
	}
}
