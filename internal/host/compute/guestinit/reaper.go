package guestinit

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// reaper is the init's one caller of wait4. As PID 1 it inherits every orphan of the machine, so it reaps
// them all; the children it started itself get their exit status delivered on a channel. Nothing else may
// wait for a child, or the two would steal each other's statuses.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
}

func newReaper() *reaper {
	r := &reaper{waiters: map[int]chan syscall.WaitStatus{}}
	sigchld := make(chan os.Signal, 16)
	signal.Notify(sigchld, syscall.SIGCHLD)
	go func() {
		for range sigchld {
			r.reap()
		}
	}()
	return r
}

// start starts a child. Holding mu across the fork means the child cannot be reaped before its waiter is
// registered.
func (r *reaper) start(path string, argv []string, files []*os.File) (int, <-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(path, argv, &os.ProcAttr{
		Dir: "/", Env: childEnv, Files: files,
		Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[p.Pid] = ch
	p.Release()
	return p.Pid, ch, nil
}

func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		if ch, ok := r.waiters[pid]; ok {
			ch <- ws
			delete(r.waiters, pid)
		}
	}
}
