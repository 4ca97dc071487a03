package clientsvc

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

// GetExporter returns one exporter of the caller's namespace.
func (s *Server) GetExporter(ctx context.Context, req *clientv1.GetExporterRequest) (*clientv1.Exporter, error) {
	key, err := leaseapi.ParseExporterName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(ctx, key.Namespace); err != nil {
		return nil, err
	}
	exporter := &jumpstarterv1alpha1.Exporter{}
	if err := s.Reader.Get(ctx, key, exporter); err != nil {
		return nil, s.fail(ctx, err, fmt.Sprintf("exporter %q", req.GetName()))
	}
	return leaseapi.ToExporter(exporter, s.now()), nil
}

// ListExporters returns a page of the exporters of the caller's namespace whose labels match
// filter.
func (s *Server) ListExporters(ctx context.Context, req *clientv1.ListExportersRequest) (*clientv1.ListExportersResponse, error) {
	namespace, err := leaseapi.ParseNamespace("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(ctx, namespace); err != nil {
		return nil, err
	}
	selector, err := leaseapi.ParseFilter("filter", req.GetFilter())
	if err != nil {
		return nil, err
	}
	list := &jumpstarterv1alpha1.ExporterList{}
	// Read-only: the conversion copies what it keeps.
	if err := s.Reader.List(ctx, list, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, s.fail(ctx, err, "exporters in "+req.GetParent())
	}
	page, next, err := leaseapi.Page(list.Items, func(e *jumpstarterv1alpha1.Exporter) string { return e.Name },
		"exporters", req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	now := s.now()
	resp := &clientv1.ListExportersResponse{NextPageToken: next}
	for i := range page {
		resp.Exporters = append(resp.Exporters, leaseapi.ToExporter(&page[i], now))
	}
	return resp, nil
}
