// Package ecs is Amazon ECS's API: clusters so far. Tasks, services and task definitions come with the ECS
// issue; until then their operations answer NotImplemented.
package ecs

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	api "github.com/overcast-cloud/overcast/api/ecs"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

const kindCluster = "ecs/cluster"

// cluster is the stored record of a cluster.
type cluster struct {
	Name     string               `json:"name"`
	ARN      string               `json:"arn"`
	Status   string               `json:"status"`
	Created  time.Time            `json:"created"`
	Tags     []api.Tag            `json:"tags,omitempty"`
	Settings []api.ClusterSetting `json:"settings,omitempty"`
}

// Service implements api/ecs.Service.
type Service struct {
	api.Unimplemented
	st    store.Store
	clock func() time.Time
}

// New returns the ECS service.
func New(st store.Store, clock func() time.Time) *Service {
	return &Service{st: st, clock: clock}
}

var _ api.Service = (*Service)(nil)

var clusterName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

func key(ctx context.Context, name string) store.Key {
	r := awsctx.From(ctx)
	return store.Key{Account: r.Account, Region: r.Region, Kind: kindCluster, ID: name}
}

func arnOf(ctx context.Context, name string) string {
	r := awsctx.From(ctx)
	return "arn:aws:ecs:" + r.Region + ":" + r.Account + ":cluster/" + name
}

// nameOf accepts a cluster name or ARN, as every ECS operation does.
func nameOf(ref string) string {
	if i := strings.Index(ref, ":cluster/"); i >= 0 && strings.HasPrefix(ref, "arn:") {
		return ref[i+len(":cluster/"):]
	}
	return ref
}

// CreateCluster creates a cluster; creating one that exists returns it, as ECS does.
func (s *Service) CreateCluster(ctx context.Context, in *api.CreateClusterRequest) (*api.CreateClusterResponse, error) {
	name := "default"
	if in.ClusterName != nil {
		name = *in.ClusterName
	}
	if !clusterName.MatchString(name) {
		return nil, apierr.InvalidParam("InvalidParameterException", "Cluster name can only contain letters, numbers, underscores and hyphens, and be up to 255 characters long.")
	}
	c := cluster{Name: name, ARN: arnOf(ctx, name), Status: "ACTIVE", Created: s.clock().UTC(), Tags: in.Tags, Settings: in.Settings}
	k := key(ctx, name)
	if _, err := store.Create(ctx, s.st, k, c); err != nil {
		if !errors.Is(err, store.ErrExists) {
			return nil, err
		}
		existing, _, err := store.Get[cluster](ctx, s.st, k)
		if err != nil {
			return nil, err
		}
		if existing.Status == "ACTIVE" {
			return &api.CreateClusterResponse{Cluster: existing.api()}, nil
		}
		if _, err := store.Mutate(ctx, s.st, k, func(old *cluster) error { *old = c; return nil }); err != nil {
			return nil, err
		}
	}
	return &api.CreateClusterResponse{Cluster: c.api()}, nil
}

// ListClusters lists the ARNs of the active clusters, a page at a time.
func (s *Service) ListClusters(ctx context.Context, in *api.ListClustersRequest) (*api.ListClustersResponse, error) {
	r := awsctx.From(ctx)
	all, _, err := store.List[cluster](ctx, s.st, store.Prefix{Account: r.Account, Region: r.Region, Kind: kindCluster})
	if err != nil {
		return nil, err
	}
	var arns []string
	for _, c := range all {
		if c.Status == "ACTIVE" {
			arns = append(arns, c.ARN)
		}
	}
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil || n < 0 || n > len(arns) {
			return nil, apierr.InvalidParam("InvalidParameterException", "Invalid token %s", *in.NextToken)
		}
		start = n
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, apierr.InvalidParam("InvalidParameterException", "maxResults must be between 1 and 100.")
		}
		limit = int(*in.MaxResults)
	}
	out := &api.ListClustersResponse{ClusterArns: []string{}}
	end := min(start+limit, len(arns))
	out.ClusterArns = append(out.ClusterArns, arns[start:end]...)
	if end < len(arns) {
		t := strconv.Itoa(end)
		out.NextToken = &t
	}
	return out, nil
}

// DescribeClusters describes the named clusters (the "default" cluster when none is named).
func (s *Service) DescribeClusters(ctx context.Context, in *api.DescribeClustersRequest) (*api.DescribeClustersResponse, error) {
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{"default"}
	}
	out := &api.DescribeClustersResponse{Clusters: []api.Cluster{}, Failures: []api.Failure{}}
	for _, ref := range refs {
		c, _, err := store.Get[cluster](ctx, s.st, key(ctx, nameOf(ref)))
		switch {
		case errors.Is(err, store.ErrNotFound):
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = arnOf(ctx, ref)
			}
			reason := "MISSING"
			out.Failures = append(out.Failures, api.Failure{Arn: &arn, Reason: &reason})
		case err != nil:
			return nil, err
		default:
			out.Clusters = append(out.Clusters, *c.api())
		}
	}
	return out, nil
}

// DeleteCluster marks the cluster INACTIVE, as ECS keeps deleted clusters visible for a while.
func (s *Service) DeleteCluster(ctx context.Context, in *api.DeleteClusterRequest) (*api.DeleteClusterResponse, error) {
	name := nameOf(deref(in.Cluster))
	c, err := store.Mutate(ctx, s.st, key(ctx, name), func(c *cluster) error {
		if c.Status != "ACTIVE" {
			return apierr.Missing("ClusterNotFoundException", "Cluster not found.")
		}
		c.Status = "INACTIVE"
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.Missing("ClusterNotFoundException", "Cluster not found.")
	}
	if err != nil {
		return nil, err
	}
	return &api.DeleteClusterResponse{Cluster: c.api()}, nil
}

func (c *cluster) api() *api.Cluster {
	zero := int32(0)
	return &api.Cluster{
		ClusterArn: &c.ARN, ClusterName: &c.Name, Status: &c.Status, Tags: c.Tags, Settings: c.Settings,
		ActiveServicesCount: &zero, PendingTasksCount: &zero, RunningTasksCount: &zero,
		RegisteredContainerInstancesCount: &zero, Statistics: []api.KeyValuePair{}, CapacityProviders: []string{},
		DefaultCapacityProviderStrategy: []api.CapacityProviderStrategyItem{},
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
