package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBoto3IdentityFlow runs the same identity flow from boto3.
func TestBoto3IdentityFlow(t *testing.T) {
	requireTool(t, "/usr/bin/python3")
	s := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/boto3_flow.py", s.URL)
	cmd.Env = append(cleanEnv(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "OK") {
		t.Fatalf("boto3 flow: %v\n%s", err, out)
	}
}
