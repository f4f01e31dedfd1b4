package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/bolt"
	"github.com/overcast-cloud/overcast/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := bolt.OpenWith(filepath.Join(t.TempDir(), "store.db"),
			bolt.Options{History: storetest.HistorySize, WatchBuffer: storetest.WatchBuffer})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func key(id string) store.Key {
	return store.Key{Account: "111111111111", Region: "us-east-1", Kind: "test/widget", ID: id}
}

func open(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "store.db") // Open creates the data directory
	s := open(t, path)
	r1, err := s.Txn(ctx,
		store.Op{Key: key("a"), Value: []byte("A"), Expect: store.Absent},
		store.Op{Key: key("b"), Value: []byte("B"), Expect: store.Absent},
	)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Txn(ctx, store.Op{Key: key("a"), Value: []byte("A2"), Expect: r1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, store.Op{Key: key("b"), Delete: true, Expect: store.Any}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	rec, err := s.Get(ctx, key("a"))
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Value) != "A2" || rec.CreateRevision != r1 || rec.ModRevision != r2 {
		t.Fatalf("after reopen a = %q create %d mod %d, want A2 create %d mod %d",
			rec.Value, rec.CreateRevision, rec.ModRevision, r1, r2)
	}
	if _, err := s.Get(ctx, key("b")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted record came back: %v", err)
	}
	rev, err := s.Revision(ctx)
	if err != nil || rev != r2+1 {
		t.Fatalf("revision after reopen = %d, %v; want %d", rev, err, r2+1)
	}
	// Revisions continue from the file, never restart.
	if r, err := s.Txn(ctx, store.Op{Key: key("c"), Value: []byte("C"), Expect: store.Absent}); err != nil || r != rev+1 {
		t.Fatalf("first txn after reopen = %d, %v; want %d", r, err, rev+1)
	}
	// History is in memory only: a watcher cannot resume from before the reopen, but can from it.
	if _, err := s.Watch(t.Context(), store.Prefix{Account: key("").Account, Region: key("").Region, Kind: key("").Kind}, r1); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from before reopen: err = %v, want ErrCompacted", err)
	}
	if _, err := s.Watch(t.Context(), store.Prefix{Kind: key("").Kind, AllAccounts: true}, rev); err != nil {
		t.Fatalf("watch from the reopen revision: %v", err)
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := open(t, path)
	// bbolt's flock is per open file, so a second Open in this process contends exactly like another process.
	if _, err := bolt.Open(path); !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("second open: err = %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

// crashEnv, when set, makes TestCrashChild the writer that TestCrash kills.
const crashEnv = "OVERCAST_STORE_CRASH_FILE"

// TestCrash kills a writing process with SIGKILL and checks that every Txn it saw return is in the file.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Each line is "<id> <revision>", printed right after that Txn returned; the child keeps writing, so the
	// kill lands at an arbitrary point of the next Txn.
	acked := map[string]int64{}
	lines := bufio.NewScanner(out)
	for len(acked) < 30 && lines.Scan() {
		id, rev, ok := strings.Cut(lines.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(rev, 10, 64)
		if err != nil {
			t.Fatalf("child said %q", lines.Text())
		}
		acked[id] = n
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) < 30 {
		t.Fatalf("child acknowledged only %d writes", len(acked))
	}

	s := open(t, path)
	ctx := context.Background()
	var last int64
	for id, rev := range acked {
		rec, err := s.Get(ctx, key(id))
		if err != nil {
			t.Fatalf("acknowledged write %s at revision %d lost: %v", id, rev, err)
		}
		if rec.ModRevision != rev || string(rec.Value) != id {
			t.Fatalf("record %s = %q at %d, want %q at %d", id, rec.Value, rec.ModRevision, id, rev)
		}
		last = max(last, rev)
	}
	if rev, err := s.Revision(ctx); err != nil || rev < last {
		t.Fatalf("revision after crash = %d, %v; want at least %d", rev, err, last)
	}
	// The file is usable for writing after the crash.
	if _, err := s.Txn(ctx, store.Op{Key: key("after"), Value: []byte("x"), Expect: store.Absent}); err != nil {
		t.Fatal(err)
	}
}

func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrash")
	}
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		id := fmt.Sprintf("w-%06d", i)
		rev, err := s.Txn(context.Background(), store.Op{Key: key(id), Value: []byte(id), Expect: store.Absent})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%s %d\n", id, rev)
	}
}

func BenchmarkGet(b *testing.B) {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "store.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 10000
	value := []byte(strings.Repeat("x", 512))
	ops := make([]store.Op, 0, 1000)
	for i := range n {
		ops = append(ops, store.Op{Key: key(fmt.Sprintf("i-%08d", i)), Value: value, Expect: store.Any})
		if len(ops) == cap(ops) {
			if _, err := s.Txn(ctx, ops...); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, key(fmt.Sprintf("i-%08d", i%n))); err != nil {
			b.Fatal(err)
		}
		i += 7919 // a stride that visits the keys out of order
	}
}

func BenchmarkTxnPut(b *testing.B) {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "store.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	value := []byte(strings.Repeat("x", 512))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Txn(ctx, store.Op{Key: key(fmt.Sprintf("i-%08d", i)), Value: value, Expect: store.Absent}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTxnPutParallel shows concurrent writers sharing commits.
func BenchmarkTxnPutParallel(b *testing.B) {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "store.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	value := []byte(strings.Repeat("x", 512))
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("i-%08d", n.Add(1))
			if _, err := s.Txn(ctx, store.Op{Key: key(id), Value: value, Expect: store.Absent}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
