package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	computelinux "github.com/overcast-cloud/overcast/internal/host/compute/linux"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/host/network/dns"
	"github.com/overcast-cloud/overcast/internal/host/network/imds"
	netlinux "github.com/overcast-cloud/overcast/internal/host/network/linux"
	"github.com/overcast-cloud/overcast/internal/host/storage/images"
	"github.com/overcast-cloud/overcast/internal/iam"
)

// hostConfig is how the host layer is set up.
type hostConfig struct {
	Mode       string // auto, on, off
	DataDir    string
	ImagesDir  string
	Prefix     string
	PublicPool string
	Runtime    string
	Logger     *slog.Logger
}

// hostLayer is what runs instances: the image store, the compute driver and the VPC data plane.
type hostLayer struct {
	Images  *images.Store
	Compute compute.Driver
	Network *netlinux.Network
}

// computeAvailable says why this host cannot run instances, or "" when it can.
func computeAvailable(runtime string) string {
	if os.Geteuid() != 0 {
		return "Overcast is not running as root"
	}
	if _, err := exec.LookPath(runtime); err != nil {
		return runtime + " is not installed"
	}
	return ""
}

// openHost sets up the host layer, or returns nil when compute is off. With "auto", a host that cannot run
// instances gets a log line and an EC2 whose instance operations say so.
func openHost(ctx context.Context, cfg hostConfig) (*hostLayer, error) {
	if cfg.Runtime == "" {
		cfg.Runtime = "runc"
	}
	switch cfg.Mode {
	case "off":
		return nil, nil
	case "auto", "on":
		if why := computeAvailable(cfg.Runtime); why != "" {
			if cfg.Mode == "on" {
				return nil, fmt.Errorf("--compute=on: %s", why)
			}
			cfg.Logger.Warn("compute is off: instances cannot run on this host", "reason", why)
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("--compute: want auto, on or off, not %q", cfg.Mode)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pool := netip.Prefix{}
	if cfg.PublicPool != "" {
		if pool, err = netip.ParsePrefix(cfg.PublicPool); err != nil {
			return nil, fmt.Errorf("--public-pool: %w", err)
		}
	}
	if cfg.ImagesDir == "" {
		cfg.ImagesDir = filepath.Join(cfg.DataDir, "images")
	}
	store, err := images.Open(cfg.ImagesDir, images.Options{Logger: cfg.Logger.With("component", "images")})
	if err != nil {
		return nil, err
	}
	driver, err := computelinux.New(computelinux.Config{
		StateDir: filepath.Join(cfg.DataDir, "instances"), Runtime: cfg.Runtime, InitBinary: self,
		Prefix: cfg.Prefix, Logger: cfg.Logger.With("component", "compute"),
	})
	if err != nil {
		store.Close()
		if cfg.Mode == "auto" {
			cfg.Logger.Warn("compute is off: instances cannot run on this host", "reason", err.Error())
			return nil, nil
		}
		return nil, err
	}
	netw, err := netlinux.New(ctx, netlinux.Config{Prefix: cfg.Prefix, PublicPool: pool, Logger: cfg.Logger.With("component", "network")})
	if err != nil {
		store.Close()
		return nil, err
	}
	// Quick-start images build in the background; DescribeImages shows them pending until then.
	store.EnsureAll(ctx)
	return &hostLayer{Images: store, Compute: driver, Network: netw}, nil
}

// serveInVPC starts what instances reach inside their VPC: the metadata service, the AWS API endpoint and
// the resolver.
func (h *hostLayer) serveInVPC(ctx context.Context, source imds.Source, dir *iam.Directory, clock func() time.Time, api http.Handler, log *slog.Logger) error {
	md, err := h.Network.ListenService(network.Metadata)
	if err != nil {
		return fmt.Errorf("metadata listener: %w", err)
	}
	handler := imds.New(imds.Config{Source: source, Credentials: imds.NewIAMCredentials(dir, clock), Clock: clock,
		Logger: log.With("component", "imds")})
	go func() {
		if err := handler.Serve(ctx, md); err != nil {
			log.Error("metadata service stopped", "err", err)
		}
	}()
	apiLn, err := h.Network.ListenService(network.APIEndpoint)
	if err != nil {
		return fmt.Errorf("API endpoint listener: %w", err)
	}
	go func() {
		srv := &http.Server{Handler: api}
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.Serve(apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("in-VPC API endpoint stopped", "err", err)
		}
	}()
	resolver, err := h.Network.ListenResolver()
	if err != nil {
		return fmt.Errorf("resolver socket: %w", err)
	}
	go func() {
		if err := (&dns.Server{Logger: log.With("component", "dns")}).Serve(resolver); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("resolver stopped", "err", err)
		}
	}()
	return nil
}

// Close releases the host layer's own resources; machines and the data plane keep running for the next start.
func (h *hostLayer) Close() {
	h.Images.Close()
	h.Network.Close()
}

// cleanup is `overcast cleanup`: it removes every host object of an installation, machines included, so that
// nothing it made is left. Records are kept; a later start reports their instances truthfully.
func cleanup(args []string) error {
	fs := newFlagSet("cleanup")
	dataDir := fs.String("data-dir", env("OVERCAST_DATA_DIR", defaultDataDir()), "directory of Overcast's state")
	prefix := fs.String("network-prefix", env("OVERCAST_NETWORK_PREFIX", "oc"), "the network prefix of the installation")
	runtime := fs.String("runtime", "runc", "OCI runtime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	var errs []error
	state := filepath.Join(*dataDir, "instances")
	if _, err := os.Stat(state); err == nil {
		driver, err := computelinux.New(computelinux.Config{StateDir: state, Runtime: *runtime, InitBinary: mustExecutable(), Prefix: *prefix})
		if err != nil {
			errs = append(errs, err)
		} else {
			ids, err := driver.List(ctx)
			errs = append(errs, err)
			for _, id := range ids {
				errs = append(errs, driver.Destroy(ctx, id))
			}
		}
	}
	errs = append(errs, releaseVolumeDevices(ctx, *dataDir))
	errs = append(errs, netlinux.Teardown(ctx, *prefix))
	return errors.Join(errs...)
}

// releaseVolumeDevices detaches the loop devices (and plaintext views) of every EBS volume of the
// installation; the volumes themselves stay.
func releaseVolumeDevices(ctx context.Context, dataDir string) error {
	metas, _ := filepath.Glob(filepath.Join(dataDir, "volumes", "volumes", "*.json"))
	if len(metas) == 0 {
		return nil
	}
	vols, err := openVolumes(dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer vols.Close()
	var errs []error
	for _, m := range metas {
		errs = append(errs, vols.ReleaseDevice(ctx, strings.TrimSuffix(filepath.Base(m), ".json")))
	}
	return errors.Join(errs...)
}

func mustExecutable() string {
	p, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return p
}
