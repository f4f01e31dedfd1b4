package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/overcast-cloud/overcast/api/autoscaling"
	"github.com/overcast-cloud/overcast/api/batch"
	"github.com/overcast-cloud/overcast/api/cloudwatch"
	apiec2 "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/ecr"
	apiecs "github.com/overcast-cloud/overcast/api/ecs"
	"github.com/overcast-cloud/overcast/api/elbv2"
	"github.com/overcast-cloud/overcast/api/events"
	apiiam "github.com/overcast-cloud/overcast/api/iam"
	apikms "github.com/overcast-cloud/overcast/api/kms"
	apilambda "github.com/overcast-cloud/overcast/api/lambda"
	"github.com/overcast-cloud/overcast/api/logs"
	apis3 "github.com/overcast-cloud/overcast/api/s3"
	apists "github.com/overcast-cloud/overcast/api/sts"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/clock"
	"github.com/overcast-cloud/overcast/internal/gateway"
	"github.com/overcast-cloud/overcast/internal/host/storage/snapshots"
	"github.com/overcast-cloud/overcast/internal/host/storage/volumes"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/awsjson"
	"github.com/overcast-cloud/overcast/internal/protocol/ec2query"
	"github.com/overcast-cloud/overcast/internal/protocol/query"
	"github.com/overcast-cloud/overcast/internal/protocol/restjson"
	"github.com/overcast-cloud/overcast/internal/protocol/restxml"
	"github.com/overcast-cloud/overcast/internal/protocol/rpcv2cbor"
	svccloudwatch "github.com/overcast-cloud/overcast/internal/service/cloudwatch"
	svcec2 "github.com/overcast-cloud/overcast/internal/service/ec2"
	svcecs "github.com/overcast-cloud/overcast/internal/service/ecs"
	svciam "github.com/overcast-cloud/overcast/internal/service/iam"
	svckms "github.com/overcast-cloud/overcast/internal/service/kms"
	svclambda "github.com/overcast-cloud/overcast/internal/service/lambda"
	svcs3 "github.com/overcast-cloud/overcast/internal/service/s3"
	svcsts "github.com/overcast-cloud/overcast/internal/service/sts"
	"github.com/overcast-cloud/overcast/internal/store"
)

type appConfig struct {
	Store         store.Store
	DataDir       string
	Clock         *clock.Clock
	Logger        *slog.Logger
	Account       string
	RootAccessKey string
	RootSecretKey string
	Host          *hostLayer // nil when compute is off
}

// openVolumes opens the EBS stores under the data directory without keys: enough to release devices.
func openVolumes(dataDir string, log *slog.Logger) (*volumes.Store, error) {
	return openEBS(dataDir, nil, log)
}

// openEBS opens the EBS stores under the data directory: snapshots as content-addressed chunks, volumes as
// sparse files (encrypted ones with per-volume data keys wrapped by KMS keys).
func openEBS(dataDir string, keys volumes.Keys, log *slog.Logger) (*volumes.Store, error) {
	snaps, err := snapshots.Open(filepath.Join(dataDir, "snapshots"), snapshots.Options{})
	if err != nil {
		return nil, err
	}
	return volumes.Open(filepath.Join(dataDir, "volumes"), snaps, volumes.Options{Keys: keys, Logger: log.With("component", "volumes")})
}

type app struct {
	Gateway   *gateway.Gateway
	Directory *iam.Directory
	EC2       *svcec2.Service
}

// assemble builds every layer and binds each AWS service to the gateway. It is the one place that knows every
// package.
func assemble(ctx context.Context, cfg appConfig) (*app, error) {
	dir := iam.NewDirectory(cfg.Store, iam.RootKey{Account: cfg.Account, AccessKeyID: cfg.RootAccessKey, SecretAccessKey: cfg.RootSecretKey}, cfg.Clock.Now)
	s3svc := svcs3.New(svcs3.Config{Store: cfg.Store, DataDir: cfg.DataDir, Clock: cfg.Clock.Now})
	// A write cut short by a crash leaves a body file no record names; sweep before serving.
	if err := s3svc.Recover(ctx); err != nil {
		return nil, fmt.Errorf("recovering S3 objects: %w", err)
	}

	codecs := map[string]protocol.Codec{
		wire.ProtocolEC2:       ec2query.New(),
		wire.ProtocolQuery:     query.New(),
		wire.ProtocolJSON:      awsjson.Codec{},
		wire.ProtocolRESTJSON:  restjson.New(),
		wire.ProtocolRESTXML:   restxml.New(),
		wire.ProtocolRPCv2CBOR: rpcv2cbor.Codec{},
	}
	bind := func(m *wire.Service, h map[string]wire.Handler) *gateway.Binding {
		b := &gateway.Binding{Model: m, Handlers: h, Codecs: map[string]protocol.Codec{}}
		for _, p := range append([]string{m.Protocol}, m.Protocols...) {
			if c, ok := codecs[p]; ok {
				b.Codecs[p] = c
			}
		}
		return b
	}
	kmssvc, err := svckms.New(svckms.Config{Store: cfg.Store, Clock: cfg.Clock.Now, MasterKeyFile: filepath.Join(cfg.DataDir, "kms", "master.key"), Logger: cfg.Logger.With("service", "kms")})
	if err != nil {
		return nil, err
	}
	vols, err := openEBS(cfg.DataDir, kmssvc.VolumeKeys(), cfg.Logger)
	if err != nil {
		return nil, err
	}
	ec2cfg := svcec2.Config{Store: cfg.Store, Clock: cfg.Clock.Now, Profiles: dir, Volumes: vols, Keys: kmssvc, Logger: cfg.Logger.With("service", "ec2")}
	if cfg.Host != nil {
		ec2cfg.Compute, ec2cfg.Network, ec2cfg.Images = cfg.Host.Compute, cfg.Host.Network, cfg.Host.Images
	}
	ec2svc := svcec2.New(ec2cfg)
	// Take back what was running before a restart or crash, or report it truthfully.
	if err := ec2svc.Recover(ctx); err != nil {
		return nil, fmt.Errorf("recovering instances: %w", err)
	}
	if err := ec2svc.RecoverEBS(ctx); err != nil {
		return nil, fmt.Errorf("recovering volumes and snapshots: %w", err)
	}
	if err := ec2svc.RecoverImages(ctx); err != nil {
		return nil, fmt.Errorf("recovering images: %w", err)
	}
	if cfg.Host != nil {
		// Machines whose init exits follow their InstanceInitiatedShutdownBehavior.
		go ec2svc.Monitor(ctx, 2*time.Second)
	}
	ec2b := bind(apiec2.Model(), apiec2.Handlers(ec2svc))
	iamb := bind(apiiam.Model(), apiiam.Handlers(svciam.New(dir)))
	iamb.Resources = gateway.IAMResources
	stsb := bind(apists.Model(), apists.Handlers(svcsts.New(dir, cfg.Clock.Now)))
	stsb.Resources = gateway.STSResources
	s3b := bind(apis3.Model(), apis3.Handlers(s3svc))
	s3b.Resources, s3b.Actions = gateway.S3Resources, gateway.S3Actions
	ecsb := bind(apiecs.Model(), apiecs.Handlers(svcecs.New(cfg.Store, cfg.Clock.Now)))
	lambdab := bind(apilambda.Model(), apilambda.Handlers(svclambda.New(cfg.Store)))
	cwb := bind(cloudwatch.Model(), cloudwatch.Handlers(svccloudwatch.New(cfg.Store, cfg.Clock.Now)))
	cwb.IAMPrefix = "cloudwatch"
	elbb := bind(elbv2.Model(), elbv2.Handlers(elbv2.Unimplemented{}))
	elbb.IAMPrefix = "elasticloadbalancing"

	reg := gateway.NewRegistry(
		ec2b, iamb, stsb, s3b, ecsb, lambdab, cwb, elbb,
		bind(apikms.Model(), apikms.Handlers(kmssvc)),
		bind(ecr.Model(), ecr.Handlers(ecr.Unimplemented{})),
		bind(batch.Model(), batch.Handlers(batch.Unimplemented{})),
		bind(autoscaling.Model(), autoscaling.Handlers(autoscaling.Unimplemented{})),
		bind(logs.Model(), logs.Handlers(logs.Unimplemented{})),
		bind(events.Model(), events.Handlers(events.Unimplemented{})),
	)
	gw := gateway.New(gateway.Config{Registry: reg, Identity: dir, Logger: cfg.Logger})
	return &app{Gateway: gw, Directory: dir, EC2: ec2svc}, nil
}
