package jmpclient

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

// pageSize is what each List call asks for, as the Python tools do (§3.5).
const pageSize = 100

// LeaseName is the resource name of ref, a bare lease id or a full name in the client's
// namespace.
func (c *Client) LeaseName(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("lease name: required")
	}
	if !strings.Contains(ref, "/") {
		return leaseapi.FormatLeaseName(c.Namespace, ref), nil
	}
	nn, err := leaseapi.ParseLeaseName("lease", ref)
	if err != nil {
		return "", fmt.Errorf("lease %q: want an id or namespaces/NAMESPACE/leases/ID", ref)
	}
	if nn.Namespace != c.Namespace {
		return "", fmt.Errorf("lease %q: not in the client's namespace %s", ref, c.Namespace)
	}
	return ref, nil
}

// BareName is the last segment of a resource name: the lease id of a lease name, the
// exporter name of an exporter name. Bare names come back unchanged.
func BareName(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}

// LeaseRequest is what a new lease asks for.
type LeaseRequest struct {
	// Selector is a label selector over exporter labels, e.g. "board=rpi4,site=lab1".
	Selector string
	// Exporter pins the lease to one exporter (bare name); may go with or without Selector.
	Exporter string
	Duration time.Duration
	// Tags are user tags, listed by and filterable with tag_filter.
	Tags map[string]string
	// ID is the lease id to create; empty lets the controller pick one.
	ID string
}

// CreateLease asks for a new lease and returns it as the controller echoed it.
func (c *Client) CreateLease(ctx context.Context, req LeaseRequest) (*clientv1.Lease, error) {
	lease := &clientv1.Lease{
		Selector: req.Selector,
		Duration: durationpb.New(req.Duration),
		Tags:     req.Tags,
		// Python sends an empty exporter_name with a selector; the controller reads "" as unset.
		ExporterName: proto.String(req.Exporter),
	}
	out, err := c.Leases.CreateLease(ctx, &clientv1.CreateLeaseRequest{
		Parent: leaseapi.FormatNamespace(c.Namespace), LeaseId: req.ID, Lease: lease,
	})
	if err != nil {
		return nil, fmt.Errorf("create lease: %w", err)
	}
	return out, nil
}

// GetLease fetches a lease by id or name.
func (c *Client) GetLease(ctx context.Context, ref string) (*clientv1.Lease, error) {
	name, err := c.LeaseName(ref)
	if err != nil {
		return nil, err
	}
	out, err := c.Leases.GetLease(ctx, &clientv1.GetLeaseRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("get lease %s: %w", BareName(name), err)
	}
	return out, nil
}

// ReleaseLease ends a lease of this client (DeleteLease marks it released; it stays
// readable).
func (c *Client) ReleaseLease(ctx context.Context, ref string) error {
	name, err := c.LeaseName(ref)
	if err != nil {
		return err
	}
	if _, err := c.Leases.DeleteLease(ctx, &clientv1.DeleteLeaseRequest{Name: name}); err != nil {
		return fmt.Errorf("release lease %s: %w", BareName(name), err)
	}
	return nil
}

// SetLeaseDuration changes the total duration of a lease, counted from its begin.
func (c *Client) SetLeaseDuration(ctx context.Context, ref string, d time.Duration) (*clientv1.Lease, error) {
	name, err := c.LeaseName(ref)
	if err != nil {
		return nil, err
	}
	out, err := c.Leases.UpdateLease(ctx, &clientv1.UpdateLeaseRequest{
		Lease:      &clientv1.Lease{Name: name, Duration: durationpb.New(d)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"duration"}},
	})
	if err != nil {
		return nil, fmt.Errorf("update lease %s: %w", BareName(name), err)
	}
	return out, nil
}

// LeaseFilter selects the leases ListLeases returns.
type LeaseFilter struct {
	// Selector is a label selector over lease labels (the k=v of its exporter selector).
	Selector string
	// Tags is a label selector over tags, keys without prefix.
	Tags string
	// Ended includes leases that have ended.
	Ended bool
	// AllClients includes the leases of other clients in the namespace.
	AllClients bool
}

// ListLeases lists the leases of the namespace the filter selects, every page.
func (c *Client) ListLeases(ctx context.Context, f LeaseFilter) ([]*clientv1.Lease, error) {
	var out []*clientv1.Lease
	own := leaseapi.FormatClientName(c.Namespace, c.Name)
	token := ""
	for {
		resp, err := c.Leases.ListLeases(ctx, &clientv1.ListLeasesRequest{
			Parent: leaseapi.FormatNamespace(c.Namespace), PageSize: pageSize, PageToken: token,
			Filter: f.Selector, TagFilter: f.Tags, OnlyActive: proto.Bool(!f.Ended),
		})
		if err != nil {
			return nil, fmt.Errorf("list leases: %w", err)
		}
		for _, l := range resp.GetLeases() {
			// ListLeases answers for the namespace; the Python tools filter by client too.
			if f.AllClients || l.GetClient() == own {
				out = append(out, l)
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// ListExporters lists the exporters whose labels match selector ("" for all), every page.
func (c *Client) ListExporters(ctx context.Context, selector string) ([]*clientv1.Exporter, error) {
	var out []*clientv1.Exporter
	token := ""
	for {
		resp, err := c.Leases.ListExporters(ctx, &clientv1.ListExportersRequest{
			Parent: leaseapi.FormatNamespace(c.Namespace), PageSize: pageSize, PageToken: token, Filter: selector,
		})
		if err != nil {
			return nil, fmt.Errorf("list exporters: %w", err)
		}
		out = append(out, resp.GetExporters()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// GetExporter fetches an exporter by bare name or full name.
func (c *Client) GetExporter(ctx context.Context, ref string) (*clientv1.Exporter, error) {
	name := ref
	if !strings.Contains(ref, "/") {
		name = leaseapi.FormatExporterName(c.Namespace, ref)
	}
	out, err := c.Leases.GetExporter(ctx, &clientv1.GetExporterRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("get exporter %s: %w", BareName(name), err)
	}
	return out, nil
}
