// Command overcast serves every AWS service Overcast implements on one port. `overcast serve` is the main job.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/overcast-cloud/overcast/internal/clock"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
	computelinux "github.com/overcast-cloud/overcast/internal/host/compute/linux"
	"github.com/overcast-cloud/overcast/internal/store/bolt"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "overcast:", err)
			os.Exit(1)
		}
	case "cleanup":
		if err := cleanup(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "overcast cleanup:", err)
			os.Exit(1)
		}
	case "guest-init":
		// The machine's PID 1: this same binary, bind-mounted into every instance.
		os.Exit(guestinit.Main(os.Args[2:]))
	case computelinux.MountGuardHolderCommand:
		// Hidden: keeps a machine's seccomp notify fd across restarts (internal/host/compute/linux/guardholder.go).
		os.Exit(computelinux.MountGuardHolderMain(os.Args[2:]))
	case "version":
		fmt.Println("overcast", version)
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "overcast: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
}

const version = "0.1.0-dev"

func usage() {
	fmt.Fprint(os.Stderr, `usage: overcast <command> [flags]

commands:
  serve     serve the AWS APIs on one port (see overcast serve -h)
  cleanup   remove every host object (machines, namespaces, mounts, firewall tables) of an installation
  version   print the version
`)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func serve(args []string) error {
	fs := newFlagSet("serve")
	listen := fs.String("listen", env("OVERCAST_LISTEN", "127.0.0.1:4566"), "address to listen on ($OVERCAST_LISTEN)")
	dataDir := fs.String("data-dir", env("OVERCAST_DATA_DIR", defaultDataDir()), "directory for Overcast's state ($OVERCAST_DATA_DIR)")
	account := fs.String("account", env("OVERCAST_ACCOUNT", "000000000000"), "the default account id ($OVERCAST_ACCOUNT)")
	accessKey := fs.String("root-access-key", env("OVERCAST_ROOT_ACCESS_KEY", "test"), "the default account's root access key id ($OVERCAST_ROOT_ACCESS_KEY)")
	secretKey := fs.String("root-secret-key", env("OVERCAST_ROOT_SECRET_KEY", "test"), "the default account's root secret access key ($OVERCAST_ROOT_SECRET_KEY)")
	devClock := fs.Bool("dev-clock", os.Getenv("OVERCAST_DEV_CLOCK") == "1", "serve POST /_overcast/clock?advance=<duration> to move record time forward (tests only)")
	computeMode := fs.String("compute", env("OVERCAST_COMPUTE", "auto"), "run instances: auto (when root and the runtime is installed), on or off ($OVERCAST_COMPUTE)")
	prefix := fs.String("network-prefix", env("OVERCAST_NETWORK_PREFIX", "oc"), "prefix of every host network object, 1-4 characters ($OVERCAST_NETWORK_PREFIX)")
	pool := fs.String("public-pool", env("OVERCAST_PUBLIC_POOL", ""), "IPv4 range of public addresses, reachable from this host only (default 198.18.0.0/16) ($OVERCAST_PUBLIC_POOL)")
	imagesDir := fs.String("images-dir", env("OVERCAST_IMAGES_DIR", ""), "image store (default <data-dir>/images) ($OVERCAST_IMAGES_DIR)")
	runtime := fs.String("runtime", env("OVERCAST_RUNTIME", "runc"), "OCI runtime ($OVERCAST_RUNTIME)")
	logLevel := fs.String("log-level", env("OVERCAST_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	st, err := bolt.Open(filepath.Join(*dataDir, "overcast.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	host, err := openHost(ctx, hostConfig{Mode: *computeMode, DataDir: *dataDir, ImagesDir: *imagesDir, Prefix: *prefix,
		PublicPool: *pool, Runtime: *runtime, Logger: log})
	if err != nil {
		return err
	}
	if host != nil {
		defer host.Close()
	}
	clk := clock.New()
	app, err := assemble(ctx, appConfig{
		Store: st, DataDir: *dataDir, Clock: clk, Logger: log, Host: host,
		Account: *account, RootAccessKey: *accessKey, RootSecretKey: *secretKey,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_overcast/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","version":%q}`+"\n", version)
	})
	if *devClock {
		mux.HandleFunc("POST /_overcast/clock", func(w http.ResponseWriter, r *http.Request) {
			d, err := time.ParseDuration(r.URL.Query().Get("advance"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			clk.Advance(d)
			fmt.Fprintln(w, strconv.Quote(clk.Now().UTC().Format(time.RFC3339)))
		})
	}
	mux.Handle("/", app.Gateway)

	if addr := os.Getenv("OVERCAST_PPROF"); addr != "" {
		// Profiling on a separate loopback port, for benchmarking only.
		go func() { _ = http.ListenAndServe(addr, http.DefaultServeMux) }()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if host != nil {
		if err := host.serveInVPC(ctx, app.EC2, app.Directory, clk.Now, app.Gateway, log); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("overcast serving", "listen", ln.Addr().String(), "data_dir", *dataDir, "account", *account)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }

func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/overcast"
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".local", "share", "overcast")
	}
	return "overcast-data"
}
