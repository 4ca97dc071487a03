package clientsvc

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

// GetLease returns one lease of the caller's namespace, whoever holds it (§3.6 ownership).
func (s *Server) GetLease(ctx context.Context, req *clientv1.GetLeaseRequest) (*clientv1.Lease, error) {
	key, err := leaseapi.ParseLeaseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(ctx, key.Namespace); err != nil {
		return nil, err
	}
	lease, err := s.getLease(ctx, key, leaseWhat(req.GetName()), false)
	if err != nil {
		return nil, err
	}
	return leaseapi.ToLease(lease, s.now()), nil
}

// ListLeases returns a page of the leases of the caller's namespace (all clients') whose labels
// match filter and whose tags match tag_filter; ended leases only when only_active is false.
func (s *Server) ListLeases(ctx context.Context, req *clientv1.ListLeasesRequest) (*clientv1.ListLeasesResponse, error) {
	namespace, err := leaseapi.ParseNamespace("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(ctx, namespace); err != nil {
		return nil, err
	}
	onlyActive := req.OnlyActive == nil || *req.OnlyActive
	selector, err := leaseapi.ListLeasesSelector(req.GetFilter(), req.GetTagFilter(), onlyActive)
	if err != nil {
		return nil, err
	}
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := s.Reader.List(ctx, list, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, s.fail(ctx, err, "leases in "+req.GetParent())
	}
	items := list.Items
	if onlyActive {
		// The ended label follows status.ended in a second write; go by the status.
		items = items[:0:0]
		for _, l := range list.Items {
			if !l.Status.Ended {
				items = append(items, l)
			}
		}
	}
	page, next, err := leaseapi.Page(items, func(l *jumpstarterv1alpha1.Lease) string { return l.Name },
		"leases", req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	now := s.now()
	resp := &clientv1.ListLeasesResponse{NextPageToken: next}
	for i := range page {
		resp.Leases = append(resp.Leases, leaseapi.ToLease(&page[i], now))
	}
	return resp, nil
}

// CreateLease creates a lease held by the caller, named lease_id or a fresh UUIDv7.
func (s *Server) CreateLease(ctx context.Context, req *clientv1.CreateLeaseRequest) (*clientv1.Lease, error) {
	namespace, err := leaseapi.ParseNamespace("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	caller, err := s.authorize(ctx, namespace)
	if err != nil {
		return nil, err
	}
	name, err := leaseapi.LeaseID("lease_id", req.GetLeaseId())
	if err != nil {
		return nil, err
	}
	lease, err := leaseapi.NewLease(namespace, name, caller.Name, req.GetLease(), s.MaxTags)
	if err != nil {
		return nil, err
	}
	if err := s.Client.Create(ctx, lease); err != nil {
		return nil, s.fail(ctx, err, leaseWhat(leaseapi.FormatLeaseName(namespace, name)))
	}
	klog.FromContext(ctx).Info("Lease created", "lease", klog.KObj(lease), "client", caller.Name,
		"selector", leaseapi.FormatSelector(&lease.Spec.Selector), "exporter", req.GetLease().GetExporterName())
	return leaseapi.ToLease(lease, s.now()), nil
}

// UpdateLease changes the times of the caller's lease or transfers it to another client.
func (s *Server) UpdateLease(ctx context.Context, req *clientv1.UpdateLeaseRequest) (*clientv1.Lease, error) {
	if req.GetLease() == nil {
		return nil, status.Error(codes.InvalidArgument, "lease: required")
	}
	key, err := leaseapi.ParseLeaseName("lease.name", req.GetLease().GetName())
	if err != nil {
		return nil, err
	}
	caller, err := s.authorize(ctx, key.Namespace)
	if err != nil {
		return nil, err
	}
	update, err := leaseapi.ParseUpdate(req, key.Namespace)
	if err != nil {
		return nil, err
	}
	what := leaseWhat(req.GetLease().GetName())
	var updated *jumpstarterv1alpha1.Lease
	targetChecked := false
	attempt := 0
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		attempt++
		lease, err := s.getLease(ctx, key, what, attempt > 1)
		if err != nil {
			return err
		}
		base := lease.DeepCopy()
		if err := leaseapi.ApplyUpdate(lease, caller.Name, update); err != nil {
			return err
		}
		if err := s.checkExtension(base, lease); err != nil {
			return err
		}
		if equality.Semantic.DeepEqual(base.Spec, lease.Spec) {
			updated = lease
			return nil
		}
		if update.Transfers(base) && !targetChecked {
			if err := s.checkTransferTarget(ctx, key.Namespace, update.Client); err != nil {
				return err
			}
			targetChecked = true
		}
		if err := s.checkAccess(ctx, lease); err != nil {
			return err
		}
		if err := s.Client.Patch(ctx, lease, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		updated = lease
		klog.FromContext(ctx).Info("Lease updated", "lease", klog.KObj(lease), "client", caller.Name,
			"holder", lease.Spec.ClientRef.Name, "times", leaseapi.SpecTimes(&lease.Spec).String())
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, err, what)
	}
	return leaseapi.ToLease(updated, s.now()), nil
}

// checkExtension refuses to move an active lease's end later once it is within ReleaseAhead of
// its end: the exporter is on its way to the next lease already.
func (s *Server) checkExtension(before, after *jumpstarterv1alpha1.Lease) error {
	release, oldEnd := before.ReleaseTime(s.ReleaseAhead), before.EffectiveEndTime()
	if release.IsZero() || before.Status.ExporterRef == nil || !after.EffectiveEndTime().After(oldEnd) {
		return nil
	}
	if now := s.now(); !now.Before(release) {
		left := oldEnd.Sub(now)
		return status.Errorf(codes.FailedPrecondition,
			"lease %q ends in %s and is handing its exporter to the next lease already; extend a lease more than %s before its end",
			leaseapi.FormatLeaseName(before.Namespace, before.Name), max(left, 0).Round(time.Millisecond), s.ReleaseAhead)
	}
	return nil
}

// checkTransferTarget: a lease can only go to a client that exists.
func (s *Server) checkTransferTarget(ctx context.Context, namespace, name string) error {
	target := &jumpstarterv1alpha1.Client{}
	err := s.get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, target, false)
	switch {
	case apierrors.IsNotFound(err):
		return status.Errorf(codes.InvalidArgument, "lease.client: client %q does not exist in namespace %q", name, namespace)
	case err != nil:
		return s.fail(ctx, err, fmt.Sprintf("client %q", name))
	}
	return nil
}

// checkAccess: under access policies, an active lease as updated must still be open to its
// client on its exporter, so that a transfer cannot hand an exporter to a client the policies
// keep from it, nor an extension go past the maximumDuration that let the lease in. A waiting
// lease is judged by the lease controller, which ends it as NoAccess, naming the rule.
func (s *Server) checkAccess(ctx context.Context, lease *jumpstarterv1alpha1.Lease) error {
	ref := lease.Status.ExporterRef
	if ref == nil {
		return nil
	}
	access, err := accesspolicy.ForLease(ctx, s.Reader, lease)
	if err != nil {
		return s.fail(ctx, err, "access policies")
	}
	if !access.Restricted {
		return nil
	}
	exporter := &jumpstarterv1alpha1.Exporter{}
	if err := s.get(ctx, types.NamespacedName{Namespace: lease.Namespace, Name: ref.Name}, exporter, false); err != nil {
		return s.fail(ctx, err, fmt.Sprintf("exporter %q", ref.Name))
	}
	d := lease.RequestedDuration()
	if _, ok := access.Best(exporter.Labels, d); ok {
		return nil
	}
	msg := fmt.Sprintf("the access policies of namespace %s do not let client %q have exporter %q for %s",
		lease.Namespace, lease.Spec.ClientRef.Name, ref.Name, d)
	for _, rule := range access.TooShort(exporter.Labels, d) {
		msg += fmt.Sprintf("; %s allows at most %s", rule, rule.MaximumDuration)
	}
	return status.Error(codes.PermissionDenied, msg)
}

// DeleteLease releases the caller's lease: it is marked for release, ends, and stays readable.
func (s *Server) DeleteLease(ctx context.Context, req *clientv1.DeleteLeaseRequest) (*emptypb.Empty, error) {
	key, err := leaseapi.ParseLeaseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	caller, err := s.authorize(ctx, key.Namespace)
	if err != nil {
		return nil, err
	}
	what := leaseWhat(req.GetName())
	attempt := 0
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		attempt++
		lease, err := s.getLease(ctx, key, what, attempt > 1)
		if err != nil {
			return err
		}
		if err := leaseapi.CheckOwner(lease, caller.Name, what); err != nil {
			return err
		}
		base := lease.DeepCopy()
		if err := leaseapi.Release(lease, req.GetName()); err != nil {
			return err
		}
		return s.Client.Patch(ctx, lease, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return nil, s.fail(ctx, err, what)
	}
	klog.FromContext(ctx).Info("Lease released", "lease", klog.KRef(key.Namespace, key.Name), "client", caller.Name)
	return &emptypb.Empty{}, nil
}
