package benchkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Run is one run of a benchmark, as Main drives it.
type Run interface {
	// Measure measures and prints the report.
	Measure(ctx context.Context) error
	// Close deletes what the run made and stops a server it started. Main calls it on failure too.
	Close() error
	// Server is the server the run started, or nil.
	Server() *Server
}

// Main runs the benchmark name ("bench/ec2") and exits, with status 1 if anything failed. It needs root,
// since a benchmark runs instances. start gets a fresh temporary directory and a context that the first
// SIGINT or SIGTERM cancels (later ones are swallowed so cleanup can finish); it must return its Run even
// with an error, so that Main can close it. After a failure Main prints the server's last log lines; it
// always closes the run and then deletes the directory.
func Main(name string, start func(ctx context.Context, dir string) (Run, error)) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, name+" runs instances: run it as root")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, name, start)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

func run(ctx context.Context, name string, start func(ctx context.Context, dir string) (Run, error)) error {
	dir, err := os.MkdirTemp("", "overcast-"+strings.ReplaceAll(name, "/", "-")+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return err
	}
	r, err := start(ctx, dir)
	if err == nil {
		err = r.Measure(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		if s := r.Server(); s != nil {
			s.PrintLogTail()
		}
	}
	if cerr := errors.Join(r.Close(), RemoveDir(dir)); cerr != nil {
		fmt.Fprintln(os.Stderr, name+": cleanup:", cerr)
		err = errors.Join(err, cerr)
	}
	return err
}
