// Package cloudwatch is CloudWatch's metrics API: PutMetricData records data points, ListMetrics and
// GetMetricStatistics read them back. Alarms and dashboards come later and answer NotImplemented until then.
package cloudwatch

import (
	"context"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	api "github.com/overcast-cloud/overcast/api/cloudwatch"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

const (
	kindMetric = "cloudwatch/metric"
	// keepPoints bounds the data points kept per metric; older ones fall off, as CloudWatch's retention does.
	keepPoints = 4096
)

type point struct {
	T     time.Time `json:"t"`
	Value float64   `json:"v"`
	Count float64   `json:"n"`
	Sum   float64   `json:"s"`
	Min   float64   `json:"lo"`
	Max   float64   `json:"hi"`
	Unit  string    `json:"u,omitempty"`
}

type metric struct {
	Namespace  string          `json:"namespace"`
	Name       string          `json:"name"`
	Dimensions []api.Dimension `json:"dimensions,omitempty"`
	Points     []point         `json:"points"`
}

// Service implements api/cloudwatch.Service.
type Service struct {
	api.Unimplemented
	st    store.Store
	clock func() time.Time
}

// New returns the CloudWatch service.
func New(st store.Store, clock func() time.Time) *Service { return &Service{st: st, clock: clock} }

var _ api.Service = (*Service)(nil)

// metricID is the identity of a metric: namespace, name and its dimensions in name order.
func metricID(ns, name string, dims []api.Dimension) string {
	parts := make([]string, 0, len(dims))
	for _, d := range dims {
		parts = append(parts, deref(d.Name)+"="+deref(d.Value))
	}
	sort.Strings(parts)
	return ns + "\x00" + name + "\x00" + strings.Join(parts, "\x00")
}

// PutMetricData records data points.
func (s *Service) PutMetricData(ctx context.Context, in *api.PutMetricDataInput) (*wire.Empty, error) {
	ns := deref(in.Namespace)
	if strings.HasPrefix(ns, "AWS/") {
		return nil, apierr.InvalidParam("InvalidParameterValue", "The value AWS/ for parameter Namespace is invalid.")
	}
	if len(in.MetricData) > 1000 {
		return nil, apierr.InvalidParam("InvalidParameterValue", "The collection MetricData must not have a size greater than 1000.")
	}
	r := awsctx.From(ctx)
	for _, d := range in.MetricData {
		p := point{T: s.clock().UTC(), Unit: deref(d.Unit)}
		if d.Timestamp != nil {
			p.T = d.Timestamp.UTC()
		}
		switch {
		case d.StatisticValues != nil:
			sv := d.StatisticValues
			p.Count, p.Sum, p.Min, p.Max = val(sv.SampleCount), val(sv.Sum), val(sv.Minimum), val(sv.Maximum)
			p.Value = p.Sum / math.Max(p.Count, 1)
		case len(d.Values) > 0:
			p.Min, p.Max = math.Inf(1), math.Inf(-1)
			for i, v := range d.Values {
				c := 1.0
				if i < len(d.Counts) {
					c = d.Counts[i]
				}
				p.Count += c
				p.Sum += v * c
				p.Min, p.Max = math.Min(p.Min, v), math.Max(p.Max, v)
			}
			p.Value = p.Sum / math.Max(p.Count, 1)
		case d.Value != nil:
			p.Value, p.Count, p.Sum, p.Min, p.Max = *d.Value, 1, *d.Value, *d.Value, *d.Value
		default:
			return nil, apierr.InvalidParam("MissingParameter", "At least one of the parameters Value, Values or StatisticValues must be specified.")
		}
		name := deref(d.MetricName)
		k := store.Key{Account: r.Account, Region: r.Region, Kind: kindMetric, ID: metricID(ns, name, d.Dimensions)}
		_, err := store.Mutate(ctx, s.st, k, func(m *metric) error {
			m.Namespace, m.Name, m.Dimensions = ns, name, d.Dimensions
			m.Points = append(m.Points, p)
			if len(m.Points) > keepPoints {
				m.Points = m.Points[len(m.Points)-keepPoints:]
			}
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			_, err = store.Create(ctx, s.st, k, metric{Namespace: ns, Name: name, Dimensions: d.Dimensions, Points: []point{p}})
		}
		if err != nil {
			return nil, err
		}
	}
	return &wire.Empty{}, nil
}

// ListMetrics lists the metrics that match the filters, 500 a page.
func (s *Service) ListMetrics(ctx context.Context, in *api.ListMetricsInput) (*api.ListMetricsOutput, error) {
	r := awsctx.From(ctx)
	all, _, err := store.List[metric](ctx, s.st, store.Prefix{Account: r.Account, Region: r.Region, Kind: kindMetric})
	if err != nil {
		return nil, err
	}
	out := &api.ListMetricsOutput{Metrics: []api.Metric{}}
	var matched []metric
	for _, m := range all {
		if in.Namespace != nil && *in.Namespace != m.Namespace || in.MetricName != nil && *in.MetricName != m.Name {
			continue
		}
		if !hasDimensions(m.Dimensions, in.Dimensions) {
			continue
		}
		matched = append(matched, m)
	}
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil || n < 0 || n > len(matched) {
			return nil, apierr.InvalidParam("InvalidNextToken", "The service cannot process the token %s.", *in.NextToken)
		}
		start = n
	}
	end := min(start+500, len(matched))
	for _, m := range matched[start:end] {
		m := m
		out.Metrics = append(out.Metrics, api.Metric{Namespace: &m.Namespace, MetricName: &m.Name, Dimensions: m.Dimensions})
	}
	if end < len(matched) {
		t := strconv.Itoa(end)
		out.NextToken = &t
	}
	return out, nil
}

func hasDimensions(have []api.Dimension, want []api.DimensionFilter) bool {
	for _, f := range want {
		found := false
		for _, d := range have {
			if deref(d.Name) == deref(f.Name) && (f.Value == nil || deref(d.Value) == *f.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func val(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
