package imds

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
	iamsvc "github.com/overcast-cloud/overcast/internal/service/iam"
	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/memory"
)

const (
	ec2Trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	lambdaTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	s3ReadOnly = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
)

// iamWorld is a real IAM directory over the memory store, with the IAM API to create roles in it.
type iamWorld struct {
	dir   *iam.Directory
	svc   *iamsvc.Service
	ctx   context.Context // the account root, as the gateway would sign it
	clock *fakeClock
}

func newIAMWorld(t *testing.T) *iamWorld {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	clock := newClock()
	dir := iam.NewDirectory(st, iam.DefaultRootKey, clock.Now)
	c, err := dir.Credentials(context.Background(), iam.DefaultRootKey.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := awsctx.With(context.Background(), &awsctx.Request{Account: c.Principal.Account, Region: "us-east-1", Principal: c.Principal})
	return &iamWorld{dir: dir, svc: iamsvc.New(dir), ctx: ctx, clock: clock}
}

func (w *iamWorld) createRole(t *testing.T, name, trust string, attach ...string) {
	t.Helper()
	if _, err := w.svc.CreateRole(w.ctx, &iamapi.CreateRoleRequest{RoleName: &name, AssumeRolePolicyDocument: &trust}); err != nil {
		t.Fatal(err)
	}
	for _, arn := range attach {
		if _, err := w.svc.AttachRolePolicy(w.ctx, &iamapi.AttachRolePolicyRequest{RoleName: &name, PolicyArn: &arn}); err != nil {
			t.Fatal(err)
		}
	}
}

// serveWithRole serves instance A, in the directory's account, with its profile's role set to role.
func (w *iamWorld) serve(t *testing.T, role string) (*client, *fakeSource) {
	t.Helper()
	inst := instanceA()
	inst.Account = awsctx.DefaultAccount
	inst.RoleName = role
	inst.InstanceProfileARN = "arn:aws:iam::" + inst.Account + ":instance-profile/web"
	inst.InstanceProfileID = "AIPAAAAAAAAAAAAAAAAAA"
	src := &fakeSource{}
	src.put(inst)
	ts := serve(t, Config{
		Source: src, Credentials: NewIAMCredentials(w.dir, nil), Clock: w.clock.Now,
		CredentialTTL: 6 * time.Hour, RefreshBefore: 15 * time.Minute,
	})
	return ts.client(t, ipA), src
}

// credentialsDoc is iam/security-credentials/<role> as SDKs read it.
type credentialsDoc struct {
	Code, LastUpdated, Type, AccessKeyId, SecretAccessKey, Token, Expiration string
}

func getCredentials(t *testing.T, c *client, role string, headers ...string) credentialsDoc {
	t.Helper()
	r := c.get(t, "/latest/meta-data/iam/security-credentials/"+role, headers...)
	wantStatus(t, "credentials", r, 200)
	var d credentialsDoc
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		t.Fatalf("credentials are not JSON: %v\n%s", err, r.body)
	}
	if d.Code != "Success" || d.Type != "AWS-HMAC" || !strings.HasPrefix(d.AccessKeyId, "ASIA") || d.SecretAccessKey == "" || d.Token == "" {
		t.Fatalf("credentials = %+v", d)
	}
	return d
}

func TestRoleCredentials(t *testing.T) {
	w := newIAMWorld(t)
	w.createRole(t, "WebRole", ec2Trust, s3ReadOnly)
	a, _ := w.serve(t, "WebRole")

	listing := a.get(t, "/latest/meta-data/").body
	if !strings.Contains(listing, "\niam/\n") {
		t.Fatalf("listing has no iam/:\n%s", listing)
	}
	want(t, "iam/", a.get(t, "/latest/meta-data/iam/"), 200, "info\nsecurity-credentials/")
	want(t, "security-credentials/", a.get(t, "/latest/meta-data/iam/security-credentials/"), 200, "WebRole")
	wantStatus(t, "another role", a.get(t, "/latest/meta-data/iam/security-credentials/OtherRole"), 404)

	d := getCredentials(t, a, "WebRole")
	if d.LastUpdated != "2025-06-01T12:00:00Z" || d.Expiration != "2025-06-01T18:00:00Z" {
		t.Errorf("LastUpdated %s Expiration %s, want a six-hour session from now", d.LastUpdated, d.Expiration)
	}
	// The same credentials again: they are cached, not issued per request.
	if again := getCredentials(t, a, "WebRole"); again != d {
		t.Errorf("second read = %+v, want the cached %+v", again, d)
	}

	var info map[string]string
	if err := json.Unmarshal([]byte(a.get(t, "/latest/meta-data/iam/info").body), &info); err != nil {
		t.Fatal(err)
	}
	if info["Code"] != "Success" || info["LastUpdated"] != d.LastUpdated ||
		info["InstanceProfileArn"] != "arn:aws:iam::000000000000:instance-profile/web" || info["InstanceProfileId"] != "AIPAAAAAAAAAAAAAAAAAA" {
		t.Errorf("info = %v", info)
	}

	// The gateway resolves the key as an assumed-role session of the instance...
	cred, err := w.dir.Credentials(context.Background(), d.AccessKeyId)
	if err != nil {
		t.Fatal(err)
	}
	p := cred.Principal
	if cred.Secret != d.SecretAccessKey || cred.SessionToken != d.Token || p.Type != "AssumedRole" ||
		p.ARN != "arn:aws:sts::000000000000:assumed-role/WebRole/i-0aaaaaaaaaaaaaaa1" ||
		!strings.HasPrefix(p.UserID, "AROA") || !strings.HasSuffix(p.UserID, ":i-0aaaaaaaaaaaaaaa1") ||
		p.RoleARN != "arn:aws:iam::000000000000:role/WebRole" || p.SessionName != "i-0aaaaaaaaaaaaaaa1" {
		t.Fatalf("session resolves to %+v (secret ok %v)", p, cred.Secret == d.SecretAccessKey)
	}
	// ...and the role's policies govern it: S3 reads allowed, anything else not.
	identity, _, err := w.dir.PoliciesFor(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !policy.Evaluate(identity, policy.Request{Action: "s3:ListAllMyBuckets"}).Allowed() {
		t.Error("the role's AmazonS3ReadOnlyAccess does not allow s3:ListAllMyBuckets")
	}
	if policy.Evaluate(identity, policy.Request{Action: "ec2:RunInstances"}).Allowed() {
		t.Error("ec2:RunInstances is allowed; the role grants only S3 reads")
	}

	// IMDSv1 and IMDSv2 callers get different credentials, as on AWS.
	v2 := getCredentials(t, a, "WebRole", "X-aws-ec2-metadata-token", a.token(t, "60"))
	if v2.AccessKeyId == d.AccessKeyId {
		t.Error("IMDSv2 caller got the IMDSv1 credentials")
	}
}

func TestCredentialRotation(t *testing.T) {
	w := newIAMWorld(t)
	w.createRole(t, "WebRole", ec2Trust, s3ReadOnly)
	a, _ := w.serve(t, "WebRole")

	first := getCredentials(t, a, "WebRole")
	w.clock.Advance(5*time.Hour + 45*time.Minute) // exactly 15 minutes left: still served
	if got := getCredentials(t, a, "WebRole"); got != first {
		t.Fatalf("rotated with 15 minutes left: %+v", got)
	}
	w.clock.Advance(time.Minute) // 14 minutes left: the next set
	second := getCredentials(t, a, "WebRole")
	if second.AccessKeyId == first.AccessKeyId || second.Token == first.Token {
		t.Fatal("credentials did not rotate inside the refresh window")
	}
	if second.LastUpdated != "2025-06-01T17:46:00Z" || second.Expiration != "2025-06-01T23:46:00Z" {
		t.Errorf("rotated LastUpdated %s Expiration %s", second.LastUpdated, second.Expiration)
	}
	var info map[string]string
	json.Unmarshal([]byte(a.get(t, "/latest/meta-data/iam/info").body), &info)
	if info["LastUpdated"] != second.LastUpdated {
		t.Errorf("info LastUpdated = %s, want %s", info["LastUpdated"], second.LastUpdated)
	}

	// The old set is not revoked: it works until its own expiration, then no longer.
	if _, err := w.dir.Credentials(context.Background(), first.AccessKeyId); err != nil {
		t.Fatalf("old credentials before their expiration: %v", err)
	}
	w.clock.Advance(14 * time.Minute)
	if _, err := w.dir.Credentials(context.Background(), first.AccessKeyId); !errors.Is(err, iam.ErrExpired) {
		t.Fatalf("old credentials after their expiration: %v, want expired", err)
	}
	if _, err := w.dir.Credentials(context.Background(), second.AccessKeyId); err != nil {
		t.Fatalf("new credentials: %v", err)
	}
}

func TestProfileRemoved(t *testing.T) {
	w := newIAMWorld(t)
	w.createRole(t, "WebRole", ec2Trust, s3ReadOnly)
	a, src := w.serve(t, "WebRole")
	before := getCredentials(t, a, "WebRole")

	src.update(ipA, func(i *Instance) { i.RoleName, i.InstanceProfileARN, i.InstanceProfileID = "", "", "" })
	for _, p := range []string{"iam/", "iam/info", "iam/security-credentials/", "iam/security-credentials/WebRole"} {
		wantStatus(t, p, a.get(t, "/latest/meta-data/"+p), 404)
	}
	if strings.Contains(a.get(t, "/latest/meta-data/").body, "iam/") {
		t.Error("listing still has iam/")
	}

	// Associating a profile again issues new credentials: the old ones were dropped, not kept for later.
	src.update(ipA, func(i *Instance) { i.RoleName = "WebRole" })
	if after := getCredentials(t, a, "WebRole"); after.AccessKeyId == before.AccessKeyId {
		t.Error("re-associated profile served the credentials cached before removal")
	}
}

func TestRoleChangedOrDeleted(t *testing.T) {
	w := newIAMWorld(t)
	w.createRole(t, "WebRole", ec2Trust)
	w.createRole(t, "OtherRole", ec2Trust)
	a, src := w.serve(t, "WebRole")
	web := getCredentials(t, a, "WebRole")

	// A profile whose role changes serves the new role's credentials at once.
	src.update(ipA, func(i *Instance) { i.RoleName = "OtherRole" })
	want(t, "security-credentials/", a.get(t, "/latest/meta-data/iam/security-credentials/"), 200, "OtherRole")
	other := getCredentials(t, a, "OtherRole")
	cred, err := w.dir.Credentials(context.Background(), other.AccessKeyId)
	if err != nil || other.AccessKeyId == web.AccessKeyId || cred.Principal.RoleARN != "arn:aws:iam::000000000000:role/OtherRole" {
		t.Fatalf("after the role change: %+v %v", cred, err)
	}

	// A role deleted from IAM while a profile still names it has no credentials to serve.
	name := "OtherRole"
	if _, err := w.svc.DeleteRole(w.ctx, &iamapi.DeleteRoleRequest{RoleName: &name}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(6 * time.Hour) // the cached set has expired; the next read must issue
	wantStatus(t, "deleted role", a.get(t, "/latest/meta-data/iam/security-credentials/OtherRole"), 404)
}

func TestTrustPolicyWithoutEC2(t *testing.T) {
	w := newIAMWorld(t)
	w.createRole(t, "LambdaRole", lambdaTrust)
	a, _ := w.serve(t, "LambdaRole")
	r := a.get(t, "/latest/meta-data/iam/security-credentials/LambdaRole")
	wantStatus(t, "untrusted role", r, 200)
	var d map[string]string
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		t.Fatal(err)
	}
	if d["Code"] != "AssumeRoleUnauthorizedAccess" || d["AccessKeyId"] != "" {
		t.Errorf("untrusted role = %v", d)
	}
	// No session was written for it.
	sessions, _, err := store.List[iam.Session](context.Background(), w.dir.Store(), store.Prefix{Kind: iam.KindSession})
	if err != nil || len(sessions) != 0 {
		t.Errorf("sessions = %v, %v; want none", sessions, err)
	}
}

// Many processes of one instance asking at once (every SDK at boot) share one session.
func TestConcurrentFirstRequestsShareCredentials(t *testing.T) {
	w := newIAMWorld(t)
	w.createRole(t, "WebRole", ec2Trust)
	a, _ := w.serve(t, "WebRole")
	ids := make(chan string, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// t.Fatal must not run here, so this reads the response itself and reports a failure as "".
			var d credentialsDoc
			if resp, err := a.hc.Get("http://" + a.ts.addr + "/latest/meta-data/iam/security-credentials/WebRole"); err == nil {
				json.NewDecoder(resp.Body).Decode(&d)
				resp.Body.Close()
			}
			ids <- d.AccessKeyId
		}()
	}
	wg.Wait()
	close(ids)
	first := <-ids
	for id := range ids {
		if id != first || id == "" {
			t.Fatalf("concurrent readers got %q and %q", first, id)
		}
	}
	sessions, _, _ := store.List[iam.Session](context.Background(), w.dir.Store(), store.Prefix{Kind: iam.KindSession})
	if len(sessions) != 1 {
		t.Fatalf("%d sessions issued, want 1", len(sessions))
	}
}
