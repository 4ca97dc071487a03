package controllersvc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/auth/routertoken"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// errStillAvailable: the exporter reports Available, so it has not picked up the lease yet;
// Dial waits for it.
var errStillAvailable = errors.New("exporter still available")

// Dial gives a client a ticket to its leased exporter and hands the same ticket to the
// exporter's Listen stream. The checks, their order, codes and texts are the contract's
// (§3.9): clients retry on FAILED_PRECONDITION "not ready" and UNAVAILABLE, and give up on
// "permission denied". Many Dials per lease may run at once; each makes its own stream.
func (s *Server) Dial(ctx context.Context, req *jumpstarterv1.DialRequest) (*jumpstarterv1.DialResponse, error) {
	id, err := caller(ctx, identity.KindClient)
	if err != nil {
		return nil, err
	}
	if req.GetLeaseName() == "" {
		return nil, status.Error(codes.Unknown, "empty lease name")
	}
	lease, exporter, err := s.waitForExporter(ctx, id, req.GetLeaseName())
	if err != nil {
		return nil, err
	}
	router, err := s.routers.Pick(exporter.Labels, string(lease.UID))
	if err != nil {
		return nil, status.Error(codes.Unknown, "no router available")
	}
	ref := routertoken.LeaseRef{Namespace: lease.Namespace, Name: lease.Name, UID: lease.UID}
	token, claims, err := s.tokens.Mint(ref, lease.EffectiveEndTime())
	if err != nil {
		klog.FromContext(ctx).Error(err, "Minting a router token failed", "lease", klog.KObj(lease))
		return nil, status.Error(codes.Internal, "unable to sign token")
	}
	ticket := &jumpstarterv1.ListenResponse{RouterEndpoint: router.Endpoint, RouterToken: token}
	switch err := s.listeners.deliver(lease.UID, ticket); {
	case errors.Is(err, errNotListening):
		return nil, status.Errorf(codes.Unavailable, "exporter is not listening on lease %s", lease.Name)
	case errors.Is(err, errBufferFull):
		return nil, status.Errorf(codes.ResourceExhausted, "listener buffer full on lease %s", lease.Name)
	}
	klog.FromContext(ctx).V(2).Info("Dial", "lease", klog.KObj(lease), "exporter", exporter.Name,
		"router", router.Name, "stream", claims.StreamID, "expires", claims.ExpiresAt)
	return &jumpstarterv1.DialResponse{RouterEndpoint: ticket.RouterEndpoint, RouterToken: ticket.RouterToken}, nil
}

// waitForExporter runs the lease and exporter checks, and while the exporter still reports
// Available runs them again with back-off, until the wait's total has passed.
func (s *Server) waitForExporter(ctx context.Context, id identity.Identity, name string) (*jumpstarterv1alpha1.Lease, *jumpstarterv1alpha1.Exporter, error) {
	deadline := s.clock.Now().Add(s.dialWait.Total)
	delay := s.dialWait.Initial
	for {
		lease, exporter, err := s.dialTarget(ctx, id, name)
		if !errors.Is(err, errStillAvailable) {
			return lease, exporter, err
		}
		remaining := deadline.Sub(s.clock.Now())
		if remaining <= 0 {
			return nil, nil, status.Errorf(codes.FailedPrecondition, "exporter is not ready (status: %s)", jumpstarterv1alpha1.ExporterStatusAvailable)
		}
		timer := s.clock.NewTimer(min(delay, remaining))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, nil, contextError(ctx)
		case <-timer.C():
		}
		delay = min(2*delay, s.dialWait.Max)
	}
}

// dialTarget checks that the caller's lease is active and its exporter can take a session,
// returning errStillAvailable for an exporter that reports Available.
func (s *Server) dialTarget(ctx context.Context, id identity.Identity, name string) (*jumpstarterv1alpha1.Lease, *jumpstarterv1alpha1.Exporter, error) {
	lease := &jumpstarterv1alpha1.Lease{}
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: id.Namespace, Name: name}, lease); err != nil {
		if apierrors.IsNotFound(err) {
			// The storage error as is, as the reference answers.
			return nil, nil, status.Error(codes.Unknown, err.Error())
		}
		return nil, nil, status.Errorf(codes.Internal, "get lease %s: %v", name, err)
	}
	if lease.Spec.ClientRef.Name != id.Name {
		return nil, nil, status.Error(codes.Unknown, "permission denied")
	}
	if !isActive(lease) {
		return nil, nil, status.Error(codes.Unknown, "lease not active")
	}
	if end := lease.EffectiveEndTime(); !end.IsZero() && !s.clock.Now().Before(end) {
		// Past its end; the lease controller is about to mark it.
		return nil, nil, status.Error(codes.Unknown, "lease not active")
	}
	exporter := &jumpstarterv1alpha1.Exporter{}
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: lease.Namespace, Name: lease.Status.ExporterRef.Name}, exporter); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone with the lease still granted; the lease controller is about to end it.
			return nil, nil, status.Error(codes.Unknown, "lease not active")
		}
		return nil, nil, status.Errorf(codes.Internal, "get exporter %s: %v", lease.Status.ExporterRef.Name, err)
	}
	if err := sessionReady(exporter.Status.ExporterStatusValue); err != nil {
		return nil, nil, err
	}
	return lease, exporter, nil
}

// sessionReady says whether an exporter in the given state can take driver calls.
func sessionReady(value string) error {
	switch value {
	case "", jumpstarterv1alpha1.ExporterStatusUnspecified, jumpstarterv1alpha1.ExporterStatusLeaseReady,
		jumpstarterv1alpha1.ExporterStatusBeforeLeaseHook, jumpstarterv1alpha1.ExporterStatusAfterLeaseHook:
		return nil
	case jumpstarterv1alpha1.ExporterStatusAvailable:
		return errStillAvailable
	case jumpstarterv1alpha1.ExporterStatusOffline:
		return status.Error(codes.FailedPrecondition, "exporter is offline")
	case jumpstarterv1alpha1.ExporterStatusBeforeLeaseHookFailed:
		return status.Error(codes.FailedPrecondition, "exporter beforeLease hook failed")
	case jumpstarterv1alpha1.ExporterStatusAfterLeaseHookFailed:
		return status.Error(codes.FailedPrecondition, "exporter afterLease hook failed")
	default:
		return status.Error(codes.FailedPrecondition, fmt.Sprintf("exporter not ready (status: %s)", value))
	}
}
