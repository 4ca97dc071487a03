package legacylease

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/leaseapi"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// +kubebuilder:rbac:groups=jumpstarter.dev,resources=leases,verbs=get;list;watch;create;update;patch

// Service implements the legacy lease calls of ControllerService. The ControllerService
// server embeds it; a server that also embeds jumpstarterv1.UnimplementedControllerServiceServer
// must do so one level deeper (or forward the four methods), or the methods are ambiguous.
type Service struct {
	// Reader reads Leases and Exporters; normally the manager's cache.
	Reader client.Reader
	// APIReader, if set, reads a lease the cache does not have (yet), such as one created a
	// moment ago, and re-reads a lease after a write conflict.
	APIReader client.Reader
	// Client writes Leases.
	Client client.Client
}

// GetLease returns the caller's lease by its bare name.
func (s *Service) GetLease(ctx context.Context, req *jumpstarterv1.GetLeaseRequest) (*jumpstarterv1.GetLeaseResponse, error) {
	caller, err := leaseapi.Caller(ctx, identity.KindClient)
	if err != nil {
		return nil, err
	}
	if err := leaseapi.ValidateObjectName("name", req.GetName()); err != nil {
		return nil, err
	}
	what := leaseWhat(req.GetName())
	lease, err := s.getLease(ctx, types.NamespacedName{Namespace: caller.Namespace, Name: req.GetName()}, what, false)
	if err != nil {
		return nil, err
	}
	if err := leaseapi.CheckOwner(lease, caller.Name, what); err != nil {
		return nil, err
	}
	return leaseapi.ToGetLeaseResponse(lease, s.exporterUID(ctx, lease)), nil
}

// exporterUID is the uid of the lease's exporter, "" if it has none or it is gone.
func (s *Service) exporterUID(ctx context.Context, lease *jumpstarterv1alpha1.Lease) string {
	if lease.Status.ExporterRef == nil {
		return ""
	}
	exporter := &jumpstarterv1alpha1.Exporter{}
	err := s.Reader.Get(ctx, types.NamespacedName{Namespace: lease.Namespace, Name: lease.Status.ExporterRef.Name}, exporter)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			klog.FromContext(ctx).Error(err, "Cannot read the exporter of a lease", "lease", klog.KObj(lease))
		}
		return ""
	}
	return string(exporter.UID)
}

// RequestLease creates a lease held by the caller, named by a fresh UUIDv7.
func (s *Service) RequestLease(ctx context.Context, req *jumpstarterv1.RequestLeaseRequest) (*jumpstarterv1.RequestLeaseResponse, error) {
	caller, err := leaseapi.Caller(ctx, identity.KindClient)
	if err != nil {
		return nil, err
	}
	name, err := leaseapi.NewLeaseID()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	lease, err := leaseapi.NewLegacyLease(caller.Namespace, name, caller.Name, req)
	if err != nil {
		return nil, err
	}
	if err := s.Client.Create(ctx, lease); err != nil {
		return nil, fail(ctx, err, leaseWhat(name))
	}
	klog.FromContext(ctx).Info("Lease created", "lease", klog.KObj(lease), "client", caller.Name,
		"selector", leaseapi.FormatSelector(&lease.Spec.Selector))
	return &jumpstarterv1.RequestLeaseResponse{Name: name}, nil
}

// ReleaseLease ends a lease; it succeeds if the lease has ended or is being released already.
// A client may release its own leases. An exporter (the caller acts as an Exporter) may
// release the lease it holds: another lease fails with FAILED_PRECONDITION.
func (s *Service) ReleaseLease(ctx context.Context, req *jumpstarterv1.ReleaseLeaseRequest) (*jumpstarterv1.ReleaseLeaseResponse, error) {
	caller, ok := identity.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "the request carries no authenticated caller")
	}
	if err := leaseapi.ValidateObjectName("name", req.GetName()); err != nil {
		return nil, err
	}
	what := leaseWhat(req.GetName())
	key := types.NamespacedName{Namespace: caller.Namespace, Name: req.GetName()}
	released := false
	attempt := 0
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		attempt++
		lease, err := s.getLease(ctx, key, what, attempt > 1)
		if err != nil {
			return err
		}
		if caller.Kind == identity.KindExporter {
			err = leaseapi.CheckHolder(lease, caller.Name, what)
		} else {
			err = leaseapi.CheckOwner(lease, caller.Name, what)
		}
		if err != nil {
			return err
		}
		base := lease.DeepCopy()
		if !leaseapi.ReleaseIdempotent(lease) {
			return nil
		}
		if err := s.Client.Patch(ctx, lease, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		released = true
		return nil
	})
	if err != nil {
		return nil, fail(ctx, err, what)
	}
	if released {
		klog.FromContext(ctx).Info("Lease released", "lease", klog.KRef(key.Namespace, key.Name), "by", caller.String())
	}
	return &jumpstarterv1.ReleaseLeaseResponse{}, nil
}

// ListLeases returns the bare names of the caller's leases that have not ended.
func (s *Service) ListLeases(ctx context.Context, _ *jumpstarterv1.ListLeasesRequest) (*jumpstarterv1.ListLeasesResponse, error) {
	caller, err := leaseapi.Caller(ctx, identity.KindClient)
	if err != nil {
		return nil, err
	}
	selector, err := leaseapi.ListLeasesSelector("", "", true)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := s.Reader.List(ctx, list, client.InNamespace(caller.Namespace), client.MatchingLabelsSelector{Selector: selector},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, fail(ctx, err, "leases of "+caller.String())
	}
	resp := &jumpstarterv1.ListLeasesResponse{}
	for i := range list.Items {
		if l := &list.Items[i]; l.Spec.ClientRef.Name == caller.Name && !l.Status.Ended {
			resp.Names = append(resp.Names, l.Name)
		}
	}
	slices.Sort(resp.Names)
	return resp, nil
}

// getLease reads a lease through the cache, then from the API server if the cache does not
// have it (yet) and an APIReader is set; fresh skips the cache.
func (s *Service) getLease(ctx context.Context, key types.NamespacedName, what string, fresh bool) (*jumpstarterv1alpha1.Lease, error) {
	lease := &jumpstarterv1alpha1.Lease{}
	var err error
	if !fresh || s.APIReader == nil {
		err = s.Reader.Get(ctx, key, lease)
	}
	if s.APIReader != nil && (fresh || apierrors.IsNotFound(err)) {
		err = s.APIReader.Get(ctx, key, lease)
	}
	if err != nil {
		return nil, fail(ctx, err, what)
	}
	return lease, nil
}

// fail turns an API error about what into the gRPC status for the caller, and logs the
// failures that are the service's, not the caller's.
func fail(ctx context.Context, err error, what string) error {
	err = leaseapi.APIError(err, what)
	switch status.Code(err) {
	case codes.Internal, codes.Unavailable, codes.Unknown:
		klog.FromContext(ctx).Error(err, "ControllerService lease request failed", "object", what)
	}
	return err
}

func leaseWhat(name string) string { return fmt.Sprintf("lease %q", name) }
