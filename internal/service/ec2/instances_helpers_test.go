package ec2

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/compute/fake"
	"github.com/overcast-cloud/overcast/internal/host/storage/images"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/memory"
)

const (
	testAMI    = "ami-0a1b2c3d4e5f60718"
	armAMI     = "ami-0a1b2c3d4e5f60719"
	pendingAMI = "ami-0a1b2c3d4e5f6071a"
)

// catalog is an images.Catalog of fixed images.
type catalog []images.Image

func (c catalog) List(ctx context.Context) ([]images.Image, error) { return c, nil }
func (c catalog) Get(ctx context.Context, id string) (images.Image, error) {
	for _, i := range c {
		if i.ID == id {
			return i, nil
		}
	}
	return images.Image{}, images.ErrNotFound
}

var testImages = catalog{
	{ID: testAMI, Name: "overcast-tiny-x86_64", Description: "busybox", Architecture: "x86_64", DefaultUser: "ec2-user",
		SizeGiB: 1, State: "available", LowerDirs: []string{"/nonexistent/tiny"}, Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	{ID: armAMI, Name: "overcast-tiny-arm64", Architecture: "arm64", DefaultUser: "ec2-user", SizeGiB: 1, State: "available",
		LowerDirs: []string{"/nonexistent/tiny-arm"}},
	{ID: pendingAMI, Name: "overcast-debian-12", Architecture: "x86_64", DefaultUser: "admin", SizeGiB: 2, State: "pending", Progress: 40},
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// profiles is a Profiles of fixed instance profiles.
type profiles map[string]*iam.InstanceProfile

func (p profiles) InstanceProfileByName(ctx context.Context, account, name string) (*iam.InstanceProfile, error) {
	if ip, ok := p[name]; ok {
		return ip, nil
	}
	return nil, iam.NoSuchRole(name) // a NotFound of IAM's
}

type env struct {
	svc      *Service
	machines *fake.Driver
	st       store.Store
	clock    *testClock
	ctx      context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	e := &env{st: st, machines: fake.New(), clock: &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, ctx: context.Background()}
	e.svc = e.restart()
	return e
}

// restart returns a new Service over the same store and host, as after a restart of Overcast.
func (e *env) restart() *Service {
	return New(Config{Store: e.st, Clock: e.clock.Now, Compute: e.machines, Images: testImages,
		Profiles: profiles{"web": {Name: "web", ID: "AIPAEXAMPLEPROFILE01", ARN: "arn:aws:iam::000000000000:instance-profile/web",
			Roles: []string{"web-role"}}},
		Logger: slog.New(slog.DiscardHandler)})
}

// run launches instances and waits for their host work.
func (e *env) run(t *testing.T, in *api.RunInstancesRequest) []api.Instance {
	t.Helper()
	if in.ImageId == nil {
		in.ImageId = ptr(testAMI)
	}
	if in.InstanceType == nil {
		in.InstanceType = ptr("t2.micro")
	}
	if in.MinCount == nil {
		in.MinCount, in.MaxCount = ptr(int32(1)), ptr(int32(1))
	}
	res, err := e.svc.RunInstances(e.ctx, in)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	e.svc.Wait()
	return res.Instances
}

// describe returns one instance as DescribeInstances shows it.
func (e *env) describe(t *testing.T, id string) api.Instance {
	t.Helper()
	out, err := e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances %s: %d reservations", id, len(out.Reservations))
	}
	return out.Reservations[0].Instances[0]
}

func (e *env) wantState(t *testing.T, id, state string, code int32) api.Instance {
	t.Helper()
	in := e.describe(t, id)
	if *in.State.Name != state || *in.State.Code != code {
		t.Fatalf("%s is %s (%d), want %s (%d); reason %v", id, *in.State.Name, *in.State.Code, state, code, stateReason(in))
	}
	return in
}

func stateReason(in api.Instance) string {
	if in.StateReason == nil {
		return ""
	}
	return *in.StateReason.Code + " / " + *in.StateReason.Message
}

func b64(s string) *string { v := base64.StdEncoding.EncodeToString([]byte(s)); return &v }

func ids(instances []api.Instance) []string {
	var out []string
	for _, i := range instances {
		out = append(out, *i.InstanceId)
	}
	return out
}

func wantPrefix(t *testing.T, what, got, prefix string) {
	t.Helper()
	if !strings.HasPrefix(got, prefix) {
		t.Fatalf("%s = %q, want prefix %q", what, got, prefix)
	}
}
