package virtualnode

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// PodNodeNameIndex indexes cached placeholder pods by spec.nodeName.
const PodNodeNameIndex = "spec.nodeName"

// IndexPodsByNode registers the cache index of placeholder pods by spec.nodeName, which this
// reconciler and the node agent read. Call it once, before setting up either.
func IndexPodsByNode(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, PodNodeNameIndex, func(obj client.Object) []string {
		if name := obj.(*corev1.Pod).Spec.NodeName; name != "" {
			return []string{name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index pods by node: %w", err)
	}
	return nil
}

// LeaseExporterIndex indexes cached leases that have not ended by status.exporterRef.name,
// so that an exporter's lease is found without scanning the namespace (the node agent's
// admission, the gRPC services).
const LeaseExporterIndex = "status.exporterRef.name"

// LeaseExporterIndexFunc is the extractor of LeaseExporterIndex (for fake clients' WithIndex).
// Ended leases are left out: they keep their exporterRef forever and would pile up.
func LeaseExporterIndexFunc(obj client.Object) []string {
	lease, ok := obj.(*jumpstarterv1alpha1.Lease)
	if !ok || lease.Status.Ended || lease.Status.ExporterRef == nil || lease.Status.ExporterRef.Name == "" {
		return nil
	}
	return []string{lease.Status.ExporterRef.Name}
}

// IndexLeasesByExporter registers LeaseExporterIndex. Call it once, before the cache starts.
func IndexLeasesByExporter(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &jumpstarterv1alpha1.Lease{}, LeaseExporterIndex, LeaseExporterIndexFunc); err != nil {
		return fmt.Errorf("index leases by exporter: %w", err)
	}
	return nil
}
