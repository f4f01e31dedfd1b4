package iam_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/memory"
)

const acct = awsctx.DefaultAccount

type fixture struct {
	st  store.Store
	dir *iam.Directory
	now time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{st: memory.New(), now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	t.Cleanup(func() { f.st.Close() })
	f.dir = iam.NewDirectory(f.st, iam.DefaultRootKey, func() time.Time { return f.now })
	return f
}

func put[T any](t testing.TB, f *fixture, key store.Key, v T) {
	t.Helper()
	if _, err := store.Update(context.Background(), f.st, key, store.Any, v); err != nil {
		t.Fatal(err)
	}
}

// addUser writes a user with one access key of the given status.
func (f *fixture) addUser(t testing.TB, name, keyID, status string, groups ...string) iam.User {
	t.Helper()
	u := iam.User{
		Account: acct, Name: name, Path: "/", ID: iam.NewID(iam.PrefixUser), ARN: iam.ARN(acct, "user", "/", name),
		Groups:     groups,
		AccessKeys: []iam.AccessKey{{ID: keyID, Secret: "s3cr3t-" + name, Status: status}},
	}
	put(t, f, iam.UserKey(acct, name), u)
	put(t, f, iam.AccessKeyKey(keyID), iam.AccessKeyIndex{Account: acct, UserName: name})
	return u
}

func TestCredentialsRoot(t *testing.T) {
	f := newFixture(t)
	c, err := f.dir.Credentials(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	p := c.Principal
	if c.Secret != "test" || c.SessionToken != "" || p.Type != "Root" || p.ARN != "arn:aws:iam::000000000000:root" || p.UserID != acct {
		t.Fatalf("root credential = %+v, principal %+v", c, p)
	}
	f.dir.AddRootKey(iam.RootKey{Account: "111122223333", AccessKeyID: "other", SecretAccessKey: "x"})
	c, err = f.dir.Credentials(context.Background(), "other")
	if err != nil || c.Principal.Account != "111122223333" {
		t.Fatalf("second account root: %+v, %v", c, err)
	}
	if _, err := f.dir.Credentials(context.Background(), "000000000000"); !errors.Is(err, iam.ErrUnknownKey) {
		t.Fatalf("an account number is not a key: %v", err)
	}
}

func TestCredentialsUserKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.addUser(t, "dev", "AKIAAAAAAAAAAAAAAAA1", "Active")
	f.addUser(t, "off", "AKIAAAAAAAAAAAAAAAA2", "Inactive")

	c, err := f.dir.Credentials(ctx, "AKIAAAAAAAAAAAAAAAA1")
	if err != nil {
		t.Fatal(err)
	}
	want := awsctx.Principal{Account: acct, ARN: "arn:aws:iam::000000000000:user/dev", Type: "User", UserID: u.ID, Name: "dev", AccessKeyID: "AKIAAAAAAAAAAAAAAAA1"}
	if *c.Principal != want || c.Secret != "s3cr3t-dev" || c.SessionToken != "" {
		t.Fatalf("user credential = %+v, principal %+v", c, c.Principal)
	}
	for _, id := range []string{"AKIAAAAAAAAAAAAAAAA2", "AKIAAAAAAAAAAAAAAAA9", "nonsense"} {
		if _, err := f.dir.Credentials(ctx, id); !errors.Is(err, iam.ErrUnknownKey) {
			t.Errorf("Credentials(%s) = %v, want ErrUnknownKey", id, err)
		}
	}
}

func TestCredentialsSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := iam.Session{
		AccessKeyID: iam.NewSessionKeyID(), Secret: iam.NewSecret(), Token: iam.NewSessionToken(), Account: acct,
		Type: "AssumedRole", ARN: "arn:aws:sts::000000000000:assumed-role/app/s1", UserID: "AROAEXAMPLE:s1",
		RoleARN: "arn:aws:iam::000000000000:role/app", RoleName: "app", SessionName: "s1",
		Expiration: f.now.Add(time.Hour),
	}
	if err := f.dir.PutSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	c, err := f.dir.Credentials(ctx, s.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Principal
	if c.Secret != s.Secret || c.SessionToken != s.Token || !c.Expiration.Equal(s.Expiration) {
		t.Fatalf("session credential = %+v", c)
	}
	if p.Type != "AssumedRole" || p.Name != "app" || p.ARN != s.ARN || p.RoleARN != s.RoleARN || p.SessionName != "s1" || p.SessionToken != s.Token {
		t.Fatalf("session principal = %+v", p)
	}
	// The token a request must present is the one issued, not any other.
	if other := iam.NewSessionToken(); other == c.SessionToken {
		t.Fatal("session tokens repeat")
	}
	if err := f.dir.PutSession(ctx, iam.Session{AccessKeyID: "AKIAXXXXXXXXXXXXXXXX"}); err == nil {
		t.Fatal("PutSession accepted a long-term key id")
	}

	f.now = s.Expiration
	if _, err := f.dir.Credentials(ctx, s.AccessKeyID); !errors.Is(err, iam.ErrExpired) {
		t.Fatalf("at expiration: %v, want ErrExpired", err)
	}
	f.now = s.Expiration.Add(48 * time.Hour)
	if err := f.dir.PruneSessions(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.Credentials(ctx, s.AccessKeyID); !errors.Is(err, iam.ErrUnknownKey) {
		t.Fatalf("after pruning: %v, want ErrUnknownKey", err)
	}
}

// actions lists the actions of every statement of ps, to compare policies by content.
func actions(ps []*policy.Policy) []string {
	var out []string
	for _, p := range ps {
		for _, s := range p.Statements {
			out = append(out, s.Action...)
		}
	}
	slices.Sort(out)
	return out
}

func doc(action string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`
}

func TestPoliciesForUserWithGroups(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	local := iam.ManagedPolicy{
		Account: acct, Name: "ec2-read", Path: "/", ARN: iam.ARN(acct, "policy", "/", "ec2-read"), DefaultVersion: "v2",
		Versions: []iam.PolicyVersion{{ID: "v1", Document: doc("ec2:RunInstances")}, {ID: "v2", Document: doc("ec2:DescribeInstances")}},
	}
	put(t, f, iam.PolicyKey(acct, "ec2-read"), local)
	put(t, f, iam.GroupKey(acct, "devs"), iam.Group{Account: acct, Name: "devs", Policies: iam.Policies{
		Inline: map[string]string{"logs": doc("logs:PutLogEvents")}, Attached: []string{local.ARN},
	}})
	u := f.addUser(t, "dev", "AKIAAAAAAAAAAAAAAAA1", "Active", "devs", "gone")
	u.Policies = iam.Policies{
		Inline:   map[string]string{"self": doc("iam:GetUser")},
		Attached: []string{"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"},
	}
	put(t, f, iam.UserKey(acct, "dev"), u)

	c, err := f.dir.Credentials(ctx, "AKIAAAAAAAAAAAAAAAA1")
	if err != nil {
		t.Fatal(err)
	}
	identity, session, err := f.dir.PoliciesFor(ctx, c.Principal)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ec2:DescribeInstances", "iam:GetUser", "logs:PutLogEvents",
		"s3-object-lambda:Get*", "s3-object-lambda:List*", "s3:Describe*", "s3:Get*", "s3:List*"}
	if got := actions(identity); !slices.Equal(got, want) || session != nil {
		t.Fatalf("PoliciesFor = %v (session %v), want %v", got, session, want)
	}

	// A changed group policy is seen at once: the cache is keyed by the record's revision.
	put(t, f, iam.GroupKey(acct, "devs"), iam.Group{Account: acct, Name: "devs", Policies: iam.Policies{
		Inline: map[string]string{"logs": doc("logs:CreateLogGroup")},
	}})
	identity, _, err = f.dir.PoliciesFor(ctx, c.Principal)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"iam:GetUser", "logs:CreateLogGroup", "s3-object-lambda:Get*", "s3-object-lambda:List*", "s3:Describe*", "s3:Get*", "s3:List*"}
	if got := actions(identity); !slices.Equal(got, want) {
		t.Fatalf("after group change = %v, want %v", got, want)
	}

	root, _ := f.dir.Credentials(ctx, "test")
	if identity, session, err := f.dir.PoliciesFor(ctx, root.Principal); identity != nil || session != nil || err != nil {
		t.Fatalf("root is governed by %v %v %v", identity, session, err)
	}
}

func TestPoliciesForRoleSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	put(t, f, iam.RoleKey(acct, "app"), iam.Role{
		Account: acct, Name: "app", Path: "/", ARN: iam.ARN(acct, "role", "/", "app"),
		Tags:     []iam.Tag{{Key: "team", Value: "core"}, {Key: "env", Value: "dev"}},
		Policies: iam.Policies{Inline: map[string]string{"p": doc("sqs:*")}, Attached: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}},
	})
	put(t, f, iam.PolicyKey(acct, "narrow"), iam.ManagedPolicy{
		Account: acct, Name: "narrow", Path: "/", ARN: iam.ARN(acct, "policy", "/", "narrow"), DefaultVersion: "v1",
		Versions: []iam.PolicyVersion{{ID: "v1", Document: doc("sqs:SendMessage")}},
	})
	s := iam.Session{
		AccessKeyID: iam.NewSessionKeyID(), Secret: "x", Token: "t", Account: acct, Type: "AssumedRole",
		ARN: "arn:aws:sts::000000000000:assumed-role/app/s", RoleName: "app", Expiration: f.now.Add(time.Hour),
		SessionPolicy:     doc("sqs:ReceiveMessage"),
		SessionPolicyARNs: []string{iam.ARN(acct, "policy", "/", "narrow")},
		Tags:              map[string]string{"env": "prod"},
	}
	if err := f.dir.PutSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	c, err := f.dir.Credentials(ctx, s.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	identity, session, err := f.dir.PoliciesFor(ctx, c.Principal)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(identity); !slices.Equal(got, []string{"*", "sqs:*"}) {
		t.Fatalf("role policies = %v", got)
	}
	if session == nil {
		t.Fatal("no session policy")
	}
	if got := actions([]*policy.Policy{session}); !slices.Equal(got, []string{"sqs:ReceiveMessage", "sqs:SendMessage"}) {
		t.Fatalf("session policy actions = %v", got)
	}
	tags, err := f.dir.PrincipalTags(ctx, c.Principal)
	if err != nil {
		t.Fatal(err)
	}
	if tags["team"] != "core" || tags["env"] != "prod" || len(tags) != 2 {
		t.Fatalf("principal tags = %v", tags)
	}
}

func TestRoleAndUserLookups(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	put(t, f, iam.RoleKey(acct, "App"), iam.Role{Account: acct, Name: "App", ID: "AROAX", ARN: iam.ARN(acct, "role", "/svc/", "App"), TrustPolicy: "{}", MaxSessionDuration: 7200})
	r, err := f.dir.Role(ctx, acct, "app") // names are case-insensitive
	if err != nil || r.ARN != "arn:aws:iam::000000000000:role/svc/App" || r.MaxSessionDuration != 7200 {
		t.Fatalf("Role = %+v, %v", r, err)
	}
	if _, err := f.dir.User(ctx, acct, "nobody"); err == nil || err.Error() != "NoSuchEntity: The user with name nobody cannot be found." {
		t.Fatalf("User(nobody) = %v", err)
	}
}

func TestAWSManagedCatalogue(t *testing.T) {
	names := map[string]bool{}
	for _, mp := range iam.AWSManagedPolicies() {
		names[mp.Name] = true
		p, err := policy.Parse(mp.DefaultDocument())
		if err == nil {
			err = policy.ValidateIdentity(p)
		}
		if err != nil {
			t.Errorf("%s: %v", mp.ARN, err)
		}
		if got := iam.AWSManagedPolicy(mp.ARN); got != mp || len(mp.ID) != 21 {
			t.Errorf("%s: lookup %v, id %q", mp.ARN, got, mp.ID)
		}
	}
	for _, arn := range []string{
		"arn:aws:iam::aws:policy/AdministratorAccess",
		"arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
		"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
		"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
	} {
		if iam.AWSManagedPolicy(arn) == nil {
			t.Errorf("%s missing", arn)
		}
	}
	if len(names) != 18 {
		t.Errorf("catalogue has %d policies", len(names))
	}
}

func TestParseARN(t *testing.T) {
	acct, res, path, name, ok := iam.ParseARN("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
	if !ok || acct != "aws" || res != "policy" || path != "/service-role/" || name != "AWSLambdaBasicExecutionRole" {
		t.Fatalf("ParseARN = %q %q %q %q %v", acct, res, path, name, ok)
	}
	for _, bad := range []string{"arn:aws:s3:::b", "arn:aws:iam::1:policy/", "arn:aws:iam::1:root"} {
		if _, _, _, _, ok := iam.ParseARN(bad); ok {
			t.Errorf("ParseARN(%q) ok", bad)
		}
	}
}

func TestManagedPolicyDocumentIsolation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	arn := iam.ARN(acct, "policy", "/", "mine")
	put(t, f, iam.PolicyKey(acct, "mine"), iam.ManagedPolicy{Account: acct, Name: "mine", Path: "/", ARN: arn, DefaultVersion: "v1",
		Versions: []iam.PolicyVersion{{ID: "v1", Document: doc("s3:*")}}})
	if d, err := f.dir.ManagedPolicyDocument(ctx, acct, arn); err != nil || d != doc("s3:*") {
		t.Fatalf("own policy: %q, %v", d, err)
	}
	if _, err := f.dir.ManagedPolicyDocument(ctx, "111122223333", arn); err == nil {
		t.Fatal("another account's policy was visible")
	}
	if d, err := f.dir.ManagedPolicyDocument(ctx, "111122223333", "arn:aws:iam::aws:policy/AdministratorAccess"); err != nil || d == "" {
		t.Fatalf("AWS policy: %v", err)
	}
}
