package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireTool fails (never skips) when a client the suite depends on is missing: scripts/deps.sh installs them.
func requireTool(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing; run scripts/deps.sh", path)
	}
}

// TestCLIIdentityFlow is the foundation's acceptance flow, driven by the AWS CLI v2 exactly as a user types it.
func TestCLIIdentityFlow(t *testing.T) {
	requireTool(t, "/usr/bin/aws")
	s := startServer(t, "")
	root := keys("test", "test", "")

	mustJSON := func(env []string, v any, args ...string) {
		t.Helper()
		out, errOut, err := s.cli(env, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	mustFail := func(env []string, code string, args ...string) string {
		t.Helper()
		_, errOut, err := s.cli(env, args...)
		if err == nil {
			t.Fatalf("aws %s succeeded; want %s", strings.Join(args, " "), code)
		}
		if !strings.Contains(errOut, "("+code+")") {
			t.Fatalf("aws %s: want error %s, got:\n%s", strings.Join(args, " "), code, errOut)
		}
		return errOut
	}

	var ident struct{ Account, Arn, UserId string }
	mustJSON(root, &ident, "sts", "get-caller-identity")
	if ident.Account != "000000000000" || ident.Arn != "arn:aws:iam::000000000000:root" {
		t.Fatalf("root identity: %+v", ident)
	}

	mustJSON(root, nil, "iam", "create-user", "--user-name", "dev")
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey, Status string }
	}
	mustJSON(root, &key, "iam", "create-access-key", "--user-name", "dev")
	if !strings.HasPrefix(key.AccessKey.AccessKeyId, "AKIA") || len(key.AccessKey.SecretAccessKey) != 40 {
		t.Fatalf("access key: %+v", key)
	}
	mustJSON(root, nil, "iam", "attach-user-policy", "--user-name", "dev", "--policy-arn", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")

	file := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(file, []byte("hello from overcast\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustJSON(root, nil, "s3", "mb", "s3://bkt")
	mustJSON(root, nil, "s3", "cp", file, "s3://bkt/k")

	dev := keys(key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, "")
	mustJSON(dev, &ident, "sts", "get-caller-identity")
	if ident.Arn != "arn:aws:iam::000000000000:user/dev" {
		t.Fatalf("dev identity: %+v", ident)
	}
	out, errOut, err := s.cli(dev, "s3", "ls")
	if err != nil || !strings.Contains(out, " bkt\n") {
		t.Fatalf("s3 ls as dev: %v %q %s", err, out, errOut)
	}
	out, errOut, err = s.cli(dev, "s3", "cp", "s3://bkt/k", "-")
	if err != nil || out != "hello from overcast\n" {
		t.Fatalf("s3 cp s3://bkt/k - as dev: %v %q %s", err, out, errOut)
	}
	mustFail(dev, "AccessDenied", "s3", "mb", "s3://c")
	msg := mustFail(dev, "AccessDenied", "s3", "rm", "s3://bkt/k")
	if !strings.Contains(msg, "User: arn:aws:iam::000000000000:user/dev is not authorized to perform: s3:DeleteObject on resource:") {
		t.Fatalf("denial message: %s", msg)
	}
	mustFail(dev, "AccessDenied", "iam", "create-user", "--user-name", "eve")

	// An explicit Deny beats Allow *.
	mustJSON(root, nil, "iam", "create-user", "--user-name", "ops")
	mustJSON(root, nil, "iam", "put-user-policy", "--user-name", "ops", "--policy-name", "all-but-delete",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}`)
	mustJSON(root, &key, "iam", "create-access-key", "--user-name", "ops")
	ops := keys(key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, "")
	mustJSON(ops, nil, "s3", "cp", file, "s3://bkt/ops.txt")
	msg = mustFail(ops, "AccessDenied", "s3", "rm", "s3://bkt/ops.txt")
	if !strings.Contains(msg, "explicit deny") {
		t.Fatalf("explicit deny message: %s", msg)
	}

	// A wrong secret does not sign.
	mustFail(keys(key.AccessKey.AccessKeyId, "wrong-secret-wrong-secret-wrong-secret-00", ""), "SignatureDoesNotMatch", "sts", "get-caller-identity")

	// A role session expires for real.
	mustJSON(root, nil, "iam", "create-role", "--role-name", "reader", "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}`)
	var assumed struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
	}
	mustJSON(root, &assumed, "sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/reader", "--role-session-name", "s1", "--duration-seconds", "900")
	session := keys(assumed.Credentials.AccessKeyId, assumed.Credentials.SecretAccessKey, assumed.Credentials.SessionToken)
	mustJSON(session, &ident, "sts", "get-caller-identity")
	if ident.Arn != "arn:aws:sts::000000000000:assumed-role/reader/s1" {
		t.Fatalf("session identity: %+v", ident)
	}
	s.AdvanceClock(16 * time.Minute)
	mustFail(session, "ExpiredToken", "sts", "get-caller-identity")
}

// TestCLIEmptyListings checks what the AWS CLI prints for EC2 listings with nothing in them: the empty list,
// as AWS answers, not nothing at all; and describe-volumes, which the CLI pages by 1000.
func TestCLIEmptyListings(t *testing.T) {
	requireTool(t, "/usr/bin/aws")
	s := startServer(t, "")
	for _, args := range [][]string{
		{"ec2", "describe-volumes"},
		{"ec2", "describe-snapshots", "--owner-ids", "self"},
		{"ec2", "describe-images", "--owners", "self"},
		{"ec2", "describe-instance-status"},
	} {
		out, errOut, err := s.cli(keys("test", "test", ""), args...)
		if err != nil {
			t.Fatalf("aws %s: %v %s", strings.Join(args, " "), err, errOut)
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp) == 0 {
			t.Fatalf("aws %s printed %q", strings.Join(args, " "), out)
		}
		for k, v := range resp {
			if l, ok := v.([]any); !ok || len(l) != 0 {
				t.Fatalf("aws %s: %s = %v, want []", strings.Join(args, " "), k, v)
			}
		}
	}
}
