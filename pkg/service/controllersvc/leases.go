package controllersvc

import (
	"context"
	"fmt"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// isActive: the lease was granted an exporter (Ready=True) and has not ended (§3.6).
func isActive(lease *jumpstarterv1alpha1.Lease) bool {
	return !lease.Status.Ended && lease.Status.ExporterRef != nil && lease.Status.ExporterRef.Name != "" &&
		meta.IsStatusConditionTrue(lease.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady)
}

// activeLease is the exporter's active lease, nil if it has none. There is at most one (the
// exporter's node has room for one placeholder); should a stale cache show two, the earlier
// grant wins, so that every reader agrees.
func (s *Server) activeLease(ctx context.Context, namespace, exporter string) (*jumpstarterv1alpha1.Lease, error) {
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := s.client.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{virtualnode.LeaseExporterIndex: exporter}); err != nil {
		return nil, fmt.Errorf("list leases of exporter %s/%s: %w", namespace, exporter, err)
	}
	var best *jumpstarterv1alpha1.Lease
	for i := range list.Items {
		l := &list.Items[i]
		if !isActive(l) || l.Status.ExporterRef.Name != exporter {
			continue
		}
		if best == nil || grantedBefore(l, best) {
			best = l
		}
	}
	return best, nil
}

func grantedBefore(a, b *jumpstarterv1alpha1.Lease) bool {
	var at, bt time.Time
	if a.Status.BeginTime != nil {
		at = a.Status.BeginTime.Time
	}
	if b.Status.BeginTime != nil {
		bt = b.Status.BeginTime.Time
	}
	if !at.Equal(bt) {
		return at.Before(bt)
	}
	return a.Name < b.Name
}

// statusResponse is what the Status stream says about lease: {leased:false} without one,
// otherwise the bare lease and client names and the lease's context (§3.8).
func statusResponse(lease *jumpstarterv1alpha1.Lease) *jumpstarterv1.StatusResponse {
	if lease == nil {
		return &jumpstarterv1.StatusResponse{Leased: false}
	}
	leaseName, clientName := lease.Name, lease.Spec.ClientRef.Name
	return &jumpstarterv1.StatusResponse{
		Leased:     true,
		LeaseName:  &leaseName,
		ClientName: &clientName,
		Context:    maps.Clone(lease.Spec.Context),
	}
}
