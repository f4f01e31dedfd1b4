package iam_test

import (
	"context"
	"testing"

	"github.com/overcast-cloud/overcast/internal/iam"
)

// BenchmarkUserRequest is what the gateway does for every request of a non-root user: resolve the key,
// then read the policies that govern it.
func BenchmarkUserRequest(b *testing.B) {
	t := b
	f := newFixture(t)
	put(t, f, iam.GroupKey(acct, "devs"), iam.Group{Account: acct, Name: "devs", Policies: iam.Policies{
		Inline: map[string]string{"logs": doc("logs:PutLogEvents")}, Attached: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
	}})
	u := f.addUser(t, "dev", "AKIAAAAAAAAAAAAAAAA1", "Active", "devs")
	u.Policies = iam.Policies{Inline: map[string]string{"self": doc("iam:GetUser")}, Attached: []string{"arn:aws:iam::aws:policy/IAMReadOnlyAccess"}}
	put(t, f, iam.UserKey(acct, "dev"), u)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := f.dir.Credentials(ctx, "AKIAAAAAAAAAAAAAAAA1")
			if err != nil {
				b.Fatal(err)
			}
			ps, _, err := f.dir.PoliciesFor(ctx, c.Principal)
			if err != nil || len(ps) != 4 {
				b.Fatal(len(ps), err)
			}
		}
	})
}
