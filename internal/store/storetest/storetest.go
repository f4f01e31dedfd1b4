// Package storetest is the conformance suite every store.Store implementation runs, so the bolt store and
// the memory fake that service tests use cannot disagree. It checks what a caller sees: values, ordering,
// scoping, revisions, conflicts, watch streams and Close.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/store"
)

// The suite needs small watch bounds to reach them quickly: open must configure the store it returns to
// keep a history of HistorySize events and to let a watcher lag WatchBuffer events.
const (
	HistorySize = 64
	WatchBuffer = 16
)

// Run runs the suite. open returns a new, empty store and arranges for it to be closed when the test ends;
// the suite may close it first.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"GetPut", testGetPut},
		{"ValuesAreCopied", testValuesAreCopied},
		{"ListOrderedByID", testListOrderedByID},
		{"ListScoping", testListScoping},
		{"TxnAtomic", testTxnAtomic},
		{"TxnExpect", testTxnExpect},
		{"TxnInvalid", testTxnInvalid},
		{"Revisions", testRevisions},
		{"Delete", testDelete},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentMutate", testConcurrentMutate},
		{"WatchOrderAndScope", testWatchOrderAndScope},
		{"WatchAllAccounts", testWatchAllAccounts},
		{"WatchResume", testWatchResume},
		{"WatchCompacted", testWatchCompacted},
		{"WatchSlowWatcher", testWatchSlowWatcher},
		{"WatchCancel", testWatchCancel},
		{"ContextDone", testContextDone},
		{"Close", testClose},
		{"CloseWhileWriting", testCloseWhileWriting},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

const (
	acctA = "111111111111"
	acctB = "222222222222"
	east  = "us-east-1"
	west  = "us-west-2"
	kind  = "test/widget"
)

func key(id string) store.Key { return store.Key{Account: acctA, Region: east, Kind: kind, ID: id} }

var scope = store.Prefix{Account: acctA, Region: east, Kind: kind}

func put(t *testing.T, s store.Store, k store.Key, value string) int64 {
	t.Helper()
	rev, err := s.Txn(context.Background(), store.Op{Key: k, Value: []byte(value), Expect: store.Any})
	if err != nil {
		t.Fatalf("put %s: %v", k, err)
	}
	return rev
}

func get(t *testing.T, s store.Store, k store.Key) store.Record {
	t.Helper()
	rec, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	return rec
}

func list(t *testing.T, s store.Store, p store.Prefix) []string {
	t.Helper()
	recs, err := s.List(context.Background(), p)
	if err != nil {
		t.Fatalf("list %+v: %v", p, err)
	}
	ids := []string{}
	for _, r := range recs {
		ids = append(ids, r.Key.ID)
	}
	return ids
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(context.Background())
	if err != nil {
		t.Fatalf("revision: %v", err)
	}
	return rev
}

func testGetPut(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, key("i-1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing record: err = %v, want ErrNotFound", err)
	}
	rev, err := s.Txn(ctx, store.Op{Key: key("i-1"), Value: []byte(`{"a":1}`), Expect: store.Absent})
	if err != nil {
		t.Fatal(err)
	}
	rec := get(t, s, key("i-1"))
	if string(rec.Value) != `{"a":1}` || rec.Key != key("i-1") || rec.CreateRevision != rev || rec.ModRevision != rev {
		t.Fatalf("got %+v (value %s), want value {\"a\":1} at create and mod revision %d", rec, rec.Value, rev)
	}

	rev2, err := s.Txn(ctx, store.Op{Key: key("i-1"), Value: []byte(`{"a":2}`), Expect: rev})
	if err != nil {
		t.Fatal(err)
	}
	rec = get(t, s, key("i-1"))
	if string(rec.Value) != `{"a":2}` || rec.CreateRevision != rev || rec.ModRevision != rev2 || rev2 <= rev {
		t.Fatalf("after update got %+v (value %s), want create %d, mod %d", rec, rec.Value, rev, rev2)
	}

	put(t, s, key("i-empty"), "")
	if rec := get(t, s, key("i-empty")); len(rec.Value) != 0 {
		t.Fatalf("empty value read back as %q", rec.Value)
	}
}

func testValuesAreCopied(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := []byte("original")
	if _, err := s.Txn(ctx, store.Op{Key: key("i-1"), Value: v, Expect: store.Any}); err != nil {
		t.Fatal(err)
	}
	copy(v, "CHANGED!")
	rec := get(t, s, key("i-1"))
	copy(rec.Value, "CHANGED!")
	if got := get(t, s, key("i-1")).Value; string(got) != "original" {
		t.Fatalf("stored value changed through a caller's slice: %q", got)
	}
}

func testListOrderedByID(t *testing.T, s store.Store) {
	for _, id := range []string{"i-3", "i-10", "i-1", "i-2", "i-20", "a", "z"} {
		put(t, s, key(id), id)
	}
	want := []string{"a", "i-1", "i-10", "i-2", "i-20", "i-3", "z"}
	if got := list(t, s, scope); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list = %v, want %v", got, want)
	}
	p := scope
	p.IDPrefix = "i-1"
	if got := list(t, s, p); fmt.Sprint(got) != "[i-1 i-10]" {
		t.Fatalf("list with id prefix i-1 = %v, want [i-1 i-10]", got)
	}
	p.IDPrefix = "nothing"
	if got := list(t, s, p); len(got) != 0 {
		t.Fatalf("list with unmatched prefix = %v, want none", got)
	}
	recs, err := s.List(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if string(r.Value) != r.Key.ID || r.ModRevision == 0 || r.CreateRevision == 0 {
			t.Fatalf("listed record %+v lacks its value or revisions", r)
		}
	}
}

func testListScoping(t *testing.T, s store.Store) {
	// Neighbours that a byte-prefix scan without boundaries would confuse with the scope.
	neighbours := []store.Key{
		{Account: acctB, Region: east, Kind: kind, ID: "b-east"},
		{Account: acctA[:11], Region: east, Kind: kind, ID: "short-account"},
		{Account: acctA + "1", Region: east, Kind: kind, ID: "long-account"},
		{Account: acctA, Region: west, Kind: kind, ID: "a-west"},
		{Account: acctA, Region: "", Kind: kind, ID: "a-global"},
		{Account: acctA, Region: "us-east-10", Kind: kind, ID: "region-suffix"},
		{Account: acctA, Region: east, Kind: kind + "s", ID: "kind-suffix"},
		{Account: acctA, Region: east, Kind: "test", ID: "kind-prefix"},
		{Account: "", Region: "", Kind: kind, ID: "cloud-wide"},
	}
	for _, k := range neighbours {
		put(t, s, k, k.ID)
	}
	put(t, s, key("mine"), "mine")
	// The same ID in another account is another record.
	put(t, s, store.Key{Account: acctB, Region: east, Kind: kind, ID: "mine"}, "theirs")

	if got := list(t, s, scope); fmt.Sprint(got) != "[mine]" {
		t.Fatalf("account A in %s sees %v, want only [mine]", east, got)
	}
	if v := get(t, s, key("mine")).Value; string(v) != "mine" {
		t.Fatalf("account A reads %q under its own key, want mine", v)
	}
	for _, k := range neighbours {
		p := store.Prefix{Account: k.Account, Region: k.Region, Kind: k.Kind}
		got := list(t, s, p)
		want := "[" + k.ID + "]"
		if k.Account == acctB && k.Region == east && k.Kind == kind {
			want = "[b-east mine]"
		}
		if fmt.Sprint(got) != want {
			t.Errorf("list %+v = %v, want %s", p, got, want)
		}
	}
	all := list(t, s, store.Prefix{Kind: kind, AllAccounts: true, Account: "ignored"})
	if len(all) != 9 {
		t.Errorf("AllAccounts list of %s = %v, want the 9 records of that kind", kind, all)
	}
	if _, err := s.List(context.Background(), store.Prefix{Account: acctA, Region: east}); err == nil {
		t.Errorf("list without kind succeeded")
	}
}

func testTxnAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	r1 := put(t, s, key("i-1"), "one")
	before := revision(t, s)
	_, err := s.Txn(ctx,
		store.Op{Key: key("i-new"), Value: []byte("new"), Expect: store.Absent},
		store.Op{Key: key("i-1"), Value: []byte("changed"), Expect: store.Any},
		store.Op{Key: key("i-1x"), Value: []byte("x"), Expect: r1}, // absent, so the compare fails
	)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("txn with a failing compare: err = %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, key("i-new")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failed txn created a record: %v", err)
	}
	if v := get(t, s, key("i-1")).Value; string(v) != "one" {
		t.Errorf("failed txn changed a record to %q", v)
	}
	if after := revision(t, s); after != before {
		t.Errorf("failed txn moved the revision from %d to %d", before, after)
	}

	_, err = s.Txn(ctx,
		store.Op{Key: key("i-new"), Value: []byte("new"), Expect: store.Absent},
		store.Op{Key: key("gone"), Delete: true, Expect: store.Any},
	)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("txn deleting an absent record: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, key("i-new")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("txn that failed on a delete created a record: %v", err)
	}

	rev, err := s.Txn(ctx,
		store.Op{Key: key("i-new"), Value: []byte("new"), Expect: store.Absent},
		store.Op{Key: key("i-1"), Delete: true, Expect: r1},
	)
	if err != nil {
		t.Fatal(err)
	}
	if rec := get(t, s, key("i-new")); rec.ModRevision != rev {
		t.Errorf("record written at %d, txn returned %d", rec.ModRevision, rev)
	}
	if _, err := s.Get(ctx, key("i-1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("txn did not delete: %v", err)
	}
}

func testTxnExpect(t *testing.T, s store.Store) {
	ctx := context.Background()
	r1 := put(t, s, key("i-1"), "one")
	_, err := s.Txn(ctx, store.Op{Key: key("i-1"), Value: []byte("x"), Expect: store.Absent})
	if !errors.Is(err, store.ErrExists) || !errors.Is(err, store.ErrConflict) {
		t.Errorf("Absent on an existing record: err = %v, want ErrExists matching ErrConflict", err)
	}
	r2 := put(t, s, key("i-1"), "two")
	_, err = s.Txn(ctx, store.Op{Key: key("i-1"), Value: []byte("x"), Expect: r1})
	if !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
		t.Errorf("stale revision: err = %v, want ErrConflict and not ErrExists", err)
	}
	if _, err := s.Txn(ctx, store.Op{Key: key("i-1"), Value: []byte("three"), Expect: r2}); err != nil {
		t.Errorf("current revision: %v", err)
	}
	if _, err := s.Txn(ctx, store.Op{Key: key("i-1"), Value: []byte("four"), Expect: store.Any}); err != nil {
		t.Errorf("Any: %v", err)
	}
	if v := get(t, s, key("i-1")).Value; string(v) != "four" {
		t.Errorf("value = %q, want four", v)
	}
}

func testTxnInvalid(t *testing.T, s store.Store) {
	ctx := context.Background()
	bad := map[string][]store.Op{
		"no kind":      {{Key: store.Key{Account: acctA, Region: east, ID: "x"}, Value: []byte("v"), Expect: store.Any}},
		"no id":        {{Key: store.Key{Account: acctA, Region: east, Kind: kind}, Value: []byte("v"), Expect: store.Any}},
		"expect -2":    {{Key: key("x"), Value: []byte("v"), Expect: -2}},
		"key twice":    {{Key: key("x"), Value: []byte("1"), Expect: store.Any}, {Key: key("x"), Value: []byte("2"), Expect: store.Any}},
		"id too large": {{Key: key(string(make([]byte, 40<<10))), Value: []byte("v"), Expect: store.Any}},
	}
	for name, ops := range bad {
		_, err := s.Txn(ctx, ops...)
		if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: err = %v, want a validation error", name, err)
		}
	}
	if rev := revision(t, s); rev != 0 {
		t.Errorf("invalid txns moved the revision to %d", rev)
	}
	if _, err := s.Get(ctx, store.Key{Kind: kind}); err == nil {
		t.Errorf("get without id succeeded")
	}
}

func testRevisions(t *testing.T, s store.Store) {
	ctx := context.Background()
	if rev := revision(t, s); rev != 0 {
		t.Fatalf("new store at revision %d, want 0", rev)
	}
	last := int64(0)
	for i := range 5 {
		ops := []store.Op{}
		for j := range i + 1 {
			ops = append(ops, store.Op{Key: key(fmt.Sprintf("i-%d-%d", i, j)), Value: []byte("v"), Expect: store.Any})
		}
		rev, err := s.Txn(ctx, ops...)
		if err != nil {
			t.Fatal(err)
		}
		if rev != last+1 {
			t.Fatalf("txn of %d ops went from revision %d to %d, want one step", len(ops), last, rev)
		}
		if cur := revision(t, s); cur != rev {
			t.Fatalf("Revision = %d after txn at %d", cur, rev)
		}
		last = rev
	}
	if rev, err := s.Txn(ctx); err != nil || rev != last {
		t.Fatalf("empty txn = %d, %v; want the current revision %d", rev, err, last)
	}
	if cur := revision(t, s); cur != last {
		t.Fatalf("empty txn moved the revision to %d", cur)
	}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	r1 := put(t, s, key("i-1"), "one")
	r2 := put(t, s, key("i-1"), "two")
	if _, err := s.Txn(ctx, store.Op{Key: key("i-1"), Delete: true, Expect: r1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete at a stale revision: err = %v, want ErrConflict", err)
	}
	if _, err := s.Txn(ctx, store.Op{Key: key("i-1"), Delete: true, Expect: r2}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, key("i-1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: err = %v, want ErrNotFound", err)
	}
	if got := list(t, s, scope); len(got) != 0 {
		t.Fatalf("list after delete = %v", got)
	}
	if _, err := s.Txn(ctx, store.Op{Key: key("i-1"), Delete: true, Expect: store.Any}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: err = %v, want ErrNotFound", err)
	}
	r3, err := s.Txn(ctx, store.Op{Key: key("i-1"), Value: []byte("again"), Expect: store.Absent})
	if err != nil {
		t.Fatalf("recreate after delete: %v", err)
	}
	if rec := get(t, s, key("i-1")); rec.CreateRevision != r3 {
		t.Fatalf("recreated record has create revision %d, want %d", rec.CreateRevision, r3)
	}
}

func testConcurrentCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers = 8
	type result struct {
		rev int64
		err error
	}
	results := make(chan result, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			rev, err := s.Txn(ctx,
				store.Op{Key: key("contended"), Value: []byte(fmt.Sprint(i)), Expect: store.Absent},
				store.Op{Key: key(fmt.Sprint("own-", i)), Value: []byte("v"), Expect: store.Absent})
			results <- result{rev, err}
		})
	}
	wg.Wait()
	close(results)
	won, revs := 0, map[int64]bool{}
	for r := range results {
		switch {
		case r.err == nil:
			won++
			revs[r.rev] = true
		case !errors.Is(r.err, store.ErrExists):
			t.Errorf("losing create: err = %v, want ErrExists", r.err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent creates of one key succeeded, want exactly 1", won)
	}
	// The losers' other op was not written either.
	if got := list(t, s, store.Prefix{Account: acctA, Region: east, Kind: kind, IDPrefix: "own-"}); len(got) != 1 {
		t.Fatalf("records of the txns = %v, want only the winner's", got)
	}
	if rev := revision(t, s); rev != 1 {
		t.Fatalf("revision = %d after one successful txn", rev)
	}
}

func testConcurrentMutate(t *testing.T, s store.Store) {
	ctx := context.Background()
	type counter struct{ N int }
	if _, err := store.Create(ctx, s, key("counter"), counter{}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := store.Mutate(ctx, s, key("counter"), func(c *counter) error { c.N++; return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c, _, err := store.Get[counter](ctx, s, key("counter"))
	if err != nil {
		t.Fatal(err)
	}
	if c.N != workers*each {
		t.Fatalf("counter = %d after %d increments: a compare let a lost update through", c.N, workers*each)
	}
}

// next receives one event or fails.
func next(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return store.Event{}
}

func expectEvent(t *testing.T, ch <-chan store.Event, typ store.EventType, id, value string, rev int64) store.Event {
	t.Helper()
	e := next(t, ch)
	if e.Type != typ || e.Record.Key.ID != id || string(e.Record.Value) != value || e.Revision != rev || e.Record.ModRevision != rev {
		t.Fatalf("event = %s %s %q at %d (mod %d), want %s %s %q at %d",
			e.Type, e.Record.Key.ID, e.Record.Value, e.Revision, e.Record.ModRevision, typ, id, value, rev)
	}
	return e
}

// drain reads ch until it is closed and returns how many events it held.
func drain(t *testing.T, ch <-chan store.Event) int {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for n := 0; ; n++ {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
		case <-deadline:
			t.Fatal("watch channel not closed within 5s")
		}
	}
}

func testWatchOrderAndScope(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch, err := s.Watch(ctx, scope, 0)
	if err != nil {
		t.Fatal(err)
	}
	r1 := put(t, s, key("i-1"), "one")
	put(t, s, store.Key{Account: acctB, Region: east, Kind: kind, ID: "i-1"}, "other account")
	put(t, s, store.Key{Account: acctA, Region: west, Kind: kind, ID: "i-1"}, "other region")
	put(t, s, store.Key{Account: acctA, Region: east, Kind: kind + "s", ID: "i-1"}, "other kind")
	r2 := put(t, s, key("i-1"), "two")
	r3, err := s.Txn(ctx,
		store.Op{Key: key("i-b"), Value: []byte("b"), Expect: store.Absent},
		store.Op{Key: key("i-a"), Value: []byte("a"), Expect: store.Absent},
		store.Op{Key: store.Key{Account: acctB, Region: east, Kind: kind, ID: "i-c"}, Value: []byte("c"), Expect: store.Absent},
	)
	if err != nil {
		t.Fatal(err)
	}
	r4, err := s.Txn(ctx, store.Op{Key: key("i-1"), Delete: true, Expect: store.Any})
	if err != nil {
		t.Fatal(err)
	}
	r5 := put(t, s, key("end"), "end")

	e := expectEvent(t, ch, store.EventPut, "i-1", "one", r1)
	if e.Record.CreateRevision != r1 || e.Record.Key != key("i-1") {
		t.Fatalf("first put event record = %+v", e.Record)
	}
	e = expectEvent(t, ch, store.EventPut, "i-1", "two", r2)
	if e.Record.CreateRevision != r1 {
		t.Fatalf("update event create revision = %d, want %d", e.Record.CreateRevision, r1)
	}
	// Events of one txn come in the order of its ops, at the txn's revision.
	expectEvent(t, ch, store.EventPut, "i-b", "b", r3)
	expectEvent(t, ch, store.EventPut, "i-a", "a", r3)
	// A delete carries the record as it was.
	e = expectEvent(t, ch, store.EventDelete, "i-1", "two", r4)
	if e.Record.CreateRevision != r1 {
		t.Fatalf("delete event create revision = %d, want %d", e.Record.CreateRevision, r1)
	}
	expectEvent(t, ch, store.EventPut, "end", "end", r5)

	// A failed txn sends nothing.
	if _, err := s.Txn(ctx, store.Op{Key: key("end"), Value: []byte("x"), Expect: store.Absent}); err == nil {
		t.Fatal("conflicting txn succeeded")
	}
	r6 := put(t, s, key("end2"), "end2")
	expectEvent(t, ch, store.EventPut, "end2", "end2", r6)

	p := scope
	p.IDPrefix = "i-"
	filtered, err := s.Watch(ctx, p, r5-1)
	if err != nil {
		t.Fatal(err)
	}
	r7 := put(t, s, key("i-z"), "z")
	// From r5-1 with prefix i-: end (r5) and end2 (r6) are filtered out.
	expectEvent(t, filtered, store.EventPut, "i-z", "z", r7)
}

func testWatchAllAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch, err := s.Watch(ctx, store.Prefix{Kind: kind, AllAccounts: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r1 := put(t, s, key("a"), "a")
	put(t, s, store.Key{Account: acctA, Region: east, Kind: "test/other", ID: "x"}, "x")
	r2 := put(t, s, store.Key{Account: acctB, Region: west, Kind: kind, ID: "b"}, "b")
	expectEvent(t, ch, store.EventPut, "a", "a", r1)
	e := expectEvent(t, ch, store.EventPut, "b", "b", r2)
	if e.Record.Key.Account != acctB || e.Record.Key.Region != west {
		t.Fatalf("event key = %+v", e.Record.Key)
	}
}

func testWatchResume(t *testing.T, s store.Store) {
	ctx := t.Context()
	var revs []int64
	for i := range 5 {
		revs = append(revs, put(t, s, key(fmt.Sprintf("i-%d", i)), fmt.Sprint(i)))
	}
	// Resuming from revision r replays what came after r, then continues live.
	ch, err := s.Watch(ctx, scope, revs[1])
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 5; i++ {
		expectEvent(t, ch, store.EventPut, fmt.Sprintf("i-%d", i), fmt.Sprint(i), revs[i])
	}
	live := put(t, s, key("live"), "live")
	expectEvent(t, ch, store.EventPut, "live", "live", live)

	// A watch from the current revision sees only what comes next.
	ch2, err := s.Watch(ctx, scope, live)
	if err != nil {
		t.Fatal(err)
	}
	r := put(t, s, key("after"), "after")
	expectEvent(t, ch2, store.EventPut, "after", "after", r)

	// A watch may start ahead of the store and waits for its revision.
	ahead, err := s.Watch(ctx, scope, r+1)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, key("skipped"), "skipped")
	r2 := put(t, s, key("seen"), "seen")
	expectEvent(t, ahead, store.EventPut, "seen", "seen", r2)

	if _, err := s.Watch(ctx, scope, -1); err == nil {
		t.Fatal("watch from a negative revision succeeded")
	}
	if _, err := s.Watch(ctx, store.Prefix{Account: acctA}, 0); err == nil {
		t.Fatal("watch without kind succeeded")
	}
}

func testWatchCompacted(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := put(t, s, key("first"), "first")
	var last int64
	for i := range 2*HistorySize + 1 {
		last = put(t, s, key(fmt.Sprintf("i-%03d", i)), "v")
	}
	_, err := s.Watch(ctx, scope, first)
	if !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from revision %d after %d more: err = %v, want ErrCompacted", first, 2*HistorySize+1, err)
	}
	// The most recent HistorySize revisions are always kept.
	from := last - HistorySize
	ch, err := s.Watch(ctx, scope, from)
	if err != nil {
		t.Fatalf("watch from %d (last %d): %v", from, last, err)
	}
	for r := from + 1; r <= last; r++ {
		if e := next(t, ch); e.Revision != r {
			t.Fatalf("resumed event at revision %d, want %d", e.Revision, r)
		}
	}
}

func testWatchSlowWatcher(t *testing.T, s store.Store) {
	ctx := t.Context()
	slow, err := s.Watch(ctx, scope, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range WatchBuffer + 4 {
			if _, err := s.Txn(ctx, store.Op{Key: key(fmt.Sprint(i)), Value: []byte("v"), Expect: store.Any}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writers blocked behind a watcher that does not read")
	}
	if got := drain(t, slow); got > WatchBuffer {
		t.Fatalf("slow watcher received %d events, more than its buffer of %d", got, WatchBuffer)
	}
	// The store still serves watches: a fresh one works.
	ch, err := s.Watch(ctx, scope, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := put(t, s, key("after"), "after")
	expectEvent(t, ch, store.EventPut, "after", "after", r)
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.Watch(ctx, scope, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	drain(t, ch)
	put(t, s, key("after-cancel"), "v") // must not panic on the closed channel
}

func testContextDone(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, key("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("get: err = %v, want context.Canceled", err)
	}
	if _, err := s.List(ctx, scope); !errors.Is(err, context.Canceled) {
		t.Errorf("list: err = %v, want context.Canceled", err)
	}
	if _, err := s.Txn(ctx, store.Op{Key: key("x"), Value: []byte("v"), Expect: store.Any}); !errors.Is(err, context.Canceled) {
		t.Errorf("txn: err = %v, want context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), key("x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("txn with a done context wrote: %v", err)
	}
	if _, err := s.Watch(ctx, scope, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("watch: err = %v, want context.Canceled", err)
	}
}

func testClose(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, key("i-1"), "one")
	ch, err := s.Watch(t.Context(), scope, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	drain(t, ch)
	if _, err := s.Get(ctx, key("i-1")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("get after close: err = %v, want ErrClosed", err)
	}
	if _, err := s.List(ctx, scope); !errors.Is(err, store.ErrClosed) {
		t.Errorf("list after close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Txn(ctx, store.Op{Key: key("i-2"), Value: []byte("v"), Expect: store.Any}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("txn after close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Watch(ctx, scope, 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("watch after close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Revision(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("revision after close: err = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func testCloseWhileWriting(t *testing.T, s store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := 0; ; j++ {
				_, err := s.Txn(ctx, store.Op{Key: key(fmt.Sprintf("w%d-%d", i, j)), Value: []byte("v"), Expect: store.Any})
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("txn racing close: %v", err)
					return
				}
				if _, err := s.Get(ctx, key(fmt.Sprintf("w%d-%d", i, j))); err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("get racing close: %v", err)
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("writers still blocked 10s after Close")
	}
}
