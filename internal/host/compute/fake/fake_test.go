package fake

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/testsuite"
)

var image = compute.Image{ID: "ami-fake", LowerDirs: []string{"/nonexistent/fake-image"}}

func TestConformance(t *testing.T) {
	testsuite.Run(t, func(t *testing.T) (compute.Driver, compute.Image) { return New(), image })
	n := 0
	testsuite.RunBlockDevices(t, func(t *testing.T) (compute.Driver, compute.Image) { return New(), image },
		func(t *testing.T) string { n++; return fmt.Sprintf("/dev/loop%d", 100+n) })
}

func TestScriptedFailures(t *testing.T) {
	ctx := context.Background()
	d := New()
	spec := testsuite.Spec(image, "#!/bin/sh\n#fake: start_error=InsufficientInstanceCapacity\necho never\n")
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, spec.ID); err == nil || !strings.Contains(err.Error(), "InsufficientInstanceCapacity") {
		t.Errorf("Start = %v, want the scripted error", err)
	}
	testsuite.WantState(t, d, spec.ID, compute.StateStopped)

	spec.UserData = []byte("#!/bin/sh\n#fake: stop_error=stuck, oom_after=50ms\n")
	d.Define(ctx, spec)
	if err := d.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, spec.ID, time.Second); err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("Stop = %v, want the scripted error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := d.Status(ctx, spec.ID)
		if st.State == compute.StateStopped {
			if st.Reason != "killed by OOM" {
				t.Errorf("reason = %q", st.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("oom_after never stopped the machine")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRootDisk(t *testing.T) {
	ctx := context.Background()
	d := New()
	spec := testsuite.Spec(image, "#!/bin/sh\necho '<h1>hello</h1>' > /var/www/html/index.html\necho more >>/var/www/html/index.html\n")
	d.Define(ctx, spec)
	if err := d.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	got, err := d.ReadFile(spec.ID, "/var/www/html/index.html")
	if err != nil || string(got) != "<h1>hello</h1>\nmore\n" {
		t.Errorf("index.html = %q, %v", got, err)
	}
}
