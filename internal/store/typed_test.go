package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/memory"
)

type volume struct {
	ID    string `json:"id"`
	Size  int    `json:"size"`
	State string `json:"state"`
}

func vkey(id string) store.Key {
	return store.Key{Account: "111111111111", Region: "us-east-1", Kind: "ec2/volume", ID: id}
}

func TestTypedRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()

	rev, err := store.Create(ctx, s, vkey("vol-1"), volume{ID: "vol-1", Size: 8, State: "creating"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, s, vkey("vol-1"), volume{ID: "vol-1"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: err = %v, want ErrExists", err)
	}
	v, rec, err := store.Get[volume](ctx, s, vkey("vol-1"))
	if err != nil {
		t.Fatal(err)
	}
	if v != (volume{ID: "vol-1", Size: 8, State: "creating"}) || rec.ModRevision != rev {
		t.Fatalf("get = %+v at %d, want the created volume at %d", v, rec.ModRevision, rev)
	}

	v.State = "available"
	rev2, err := store.Update(ctx, s, vkey("vol-1"), rec.ModRevision, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(ctx, s, vkey("vol-1"), rec.ModRevision, v); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update at a stale revision: err = %v, want ErrConflict", err)
	}

	if _, err := store.Create(ctx, s, vkey("vol-0"), volume{ID: "vol-0", Size: 1}); err != nil {
		t.Fatal(err)
	}
	vs, recs, err := store.List[volume](ctx, s, store.Prefix{Account: "111111111111", Region: "us-east-1", Kind: "ec2/volume"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].ID != "vol-0" || vs[1].State != "available" || recs[1].ModRevision != rev2 {
		t.Fatalf("list = %+v", vs)
	}

	if _, err := store.Delete(ctx, s, vkey("vol-0"), store.Any); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Get[volume](ctx, s, vkey("vol-0")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: err = %v, want ErrNotFound", err)
	}
}

func TestTypedDecodeError(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	if _, err := s.Txn(ctx, store.Op{Key: vkey("vol-bad"), Value: []byte("not json"), Expect: store.Any}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Get[volume](ctx, s, vkey("vol-bad")); err == nil {
		t.Fatal("decoding a value that is not JSON succeeded")
	}
	if _, err := store.PutOp(vkey("vol-x"), func() {}, store.Any); err == nil {
		t.Fatal("encoding a func succeeded")
	}
}

func TestMutate(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	if _, err := store.Create(ctx, s, vkey("vol-1"), volume{ID: "vol-1", Size: 8}); err != nil {
		t.Fatal(err)
	}

	// A writer that slips in between Mutate's read and write makes it retry from the fresh value.
	calls := 0
	got, err := store.Mutate(ctx, s, vkey("vol-1"), func(v *volume) error {
		calls++
		if calls == 1 {
			if _, err := store.Update(ctx, s, vkey("vol-1"), store.Any, volume{ID: "vol-1", Size: 100}); err != nil {
				t.Fatal(err)
			}
		}
		v.Size++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || got.Size != 101 {
		t.Fatalf("mutate ran %d times and returned size %d, want 2 runs and 101", calls, got.Size)
	}
	if v, _, _ := store.Get[volume](ctx, s, vkey("vol-1")); v.Size != 101 {
		t.Fatalf("stored size %d, want 101", v.Size)
	}

	// fn's error aborts with nothing written.
	errRefused := errors.New("refused")
	if _, err := store.Mutate(ctx, s, vkey("vol-1"), func(v *volume) error { v.Size = 0; return errRefused }); !errors.Is(err, errRefused) {
		t.Fatalf("mutate: err = %v, want fn's error", err)
	}
	if v, _, _ := store.Get[volume](ctx, s, vkey("vol-1")); v.Size != 101 {
		t.Fatalf("aborted mutate wrote size %d", v.Size)
	}

	if _, err := store.Mutate(ctx, s, vkey("vol-missing"), func(*volume) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("mutate of a missing record: err = %v, want ErrNotFound", err)
	}
}

func TestMultiRecordTxn(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	a, err := store.PutOp(vkey("vol-a"), volume{ID: "vol-a"}, store.Absent)
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.PutOp(vkey("vol-b"), volume{ID: "vol-b"}, store.Absent)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Txn(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, store.DeleteOp(vkey("vol-a"), rev), store.DeleteOp(vkey("vol-b"), rev-1)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete pair with one stale revision: err = %v, want ErrConflict", err)
	}
	if _, _, err := store.Get[volume](ctx, s, vkey("vol-a")); err != nil {
		t.Fatalf("vol-a deleted by a failed txn: %v", err)
	}
}

func TestPrefixMatch(t *testing.T) {
	p := store.Prefix{Account: "1", Region: "r", Kind: "k", IDPrefix: "i-"}
	cases := []struct {
		k    store.Key
		want bool
	}{
		{store.Key{Account: "1", Region: "r", Kind: "k", ID: "i-1"}, true},
		{store.Key{Account: "1", Region: "r", Kind: "k", ID: "x-1"}, false},
		{store.Key{Account: "2", Region: "r", Kind: "k", ID: "i-1"}, false},
		{store.Key{Account: "1", Region: "", Kind: "k", ID: "i-1"}, false},
		{store.Key{Account: "1", Region: "r", Kind: "k2", ID: "i-1"}, false},
	}
	for _, c := range cases {
		if got := p.Match(c.k); got != c.want {
			t.Errorf("%+v.Match(%s) = %v", p, c.k, got)
		}
	}
	all := store.Prefix{Kind: "k", AllAccounts: true}
	if !all.Match(store.Key{Account: "9", Region: "x", Kind: "k", ID: "z"}) || all.Match(store.Key{Kind: "k2", ID: "z"}) {
		t.Error("AllAccounts prefix matches by kind only")
	}
}
