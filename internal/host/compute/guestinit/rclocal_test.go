package guestinit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a console the init's output goroutines and the test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestRCLocalRunsWhenExecutable(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	console := &lockedBuffer{}
	g := &guest{root: root, console: console, out: console, reaper: newReaper()}

	// Absent: nothing runs.
	if done, err := g.startRCLocal(); done != nil || err != nil {
		t.Fatalf("startRCLocal without rc.local = %v, %v", done, err)
	}
	script := filepath.Join(root, "etc/rc.local")
	marker := filepath.Join(root, "ran")
	must(t, os.WriteFile(script, []byte("#!/bin/sh\necho rc.local says $1\ntouch "+marker+"\n"), 0o644))
	// Not executable: Debian's rc-local skips it, so do we.
	if done, err := g.startRCLocal(); done != nil || err != nil {
		t.Fatalf("startRCLocal with a non-executable rc.local = %v, %v", done, err)
	}
	must(t, os.Chmod(script, 0o755))
	done, err := g.startRCLocal()
	if err != nil || done == nil {
		t.Fatalf("startRCLocal = %v, %v", done, err)
	}
	if ws := <-done; !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("rc.local ended with %s", describe(ws))
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("rc.local did not run: %v", err)
	}
	for i := 0; i < 100 && !strings.Contains(console.String(), "rc.local says start"); i++ {
		<-timeAfter10ms()
	}
	if !strings.Contains(console.String(), "rc.local says start") {
		t.Fatalf("console = %q, want the script's output", console.String())
	}
}

func timeAfter10ms() <-chan time.Time { return time.After(10 * time.Millisecond) }
