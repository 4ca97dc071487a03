package clientsvc

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

// TokenRotator issues a fresh token for a Client and revokes its current one;
// *credentials.Store is the implementation.
type TokenRotator interface {
	Rotate(ctx context.Context, obj client.Object) (string, token.Claims, error)
}

// +kubebuilder:rbac:groups=jumpstarter.dev,resources=leases,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=clients;exporters,verbs=get;list;watch

// Server implements clientv1.ClientServiceServer. Register a pointer:
// clientv1.RegisterClientServiceServer(grpcServer, &clientsvc.Server{...}).
type Server struct {
	clientv1.UnimplementedClientServiceServer

	// Reader reads Leases, Exporters and Clients; normally the manager's cache.
	Reader client.Reader
	// APIReader, if set, reads a lease or client the cache does not have (yet), such as a
	// lease created a moment ago, and re-reads a lease after a write conflict.
	APIReader client.Reader
	// Client writes Leases.
	Client client.Client
	// Tokens rotates the caller's credential for RotateToken; nil answers UNIMPLEMENTED.
	Tokens TokenRotator
	// CheckNamespace authorizes the caller for the namespace of a resource name in the
	// request. nil means SameNamespace.
	CheckNamespace func(ctx context.Context, namespace string) error
	// Clock is the time effective durations are computed at; nil means the real clock.
	Clock clock.PassiveClock
	// ReleaseAhead is how long before its end time an active lease hands its exporter to the
	// next lease (the lease reconciler's ReleaseAhead): within it, the end can no longer move
	// later. Zero: never.
	ReleaseAhead time.Duration
	// MaxTags caps the tags of a lease; 0 means leaseapi.DefaultMaxTags. The Lease CRD itself
	// allows at most 10, so a higher value only moves the refusal to the API server.
	MaxTags int
}

var (
	_ clientv1.ClientServiceServer = (*Server)(nil)
	_ TokenRotator                 = (*credentials.Store)(nil)
)

// SameNamespace lets a caller use only its own namespace (wire contract §3.2, step 10): it
// fails with PERMISSION_DENIED "namespace mismatch" otherwise.
func SameNamespace(ctx context.Context, namespace string) error {
	id, ok := identity.FromContext(ctx)
	if !ok || id.Namespace != namespace {
		return status.Error(codes.PermissionDenied, "namespace mismatch")
	}
	return nil
}

// authorize returns the calling client once it may act in namespace.
func (s *Server) authorize(ctx context.Context, namespace string) (identity.Identity, error) {
	id, err := leaseapi.Caller(ctx, identity.KindClient)
	if err != nil {
		return identity.Identity{}, err
	}
	check := s.CheckNamespace
	if check == nil {
		check = SameNamespace
	}
	if err := check(ctx, namespace); err != nil {
		return identity.Identity{}, err
	}
	return id, nil
}

func (s *Server) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

// get reads obj through the cache, then, if the cache does not have it and an APIReader is
// set, from the API server. fresh skips the cache (after a write conflict).
func (s *Server) get(ctx context.Context, key types.NamespacedName, obj client.Object, fresh bool) error {
	if !fresh || s.APIReader == nil {
		err := s.Reader.Get(ctx, key, obj)
		if !apierrors.IsNotFound(err) || s.APIReader == nil {
			return err
		}
	}
	return s.APIReader.Get(ctx, key, obj)
}

func (s *Server) getLease(ctx context.Context, key types.NamespacedName, what string, fresh bool) (*jumpstarterv1alpha1.Lease, error) {
	lease := &jumpstarterv1alpha1.Lease{}
	if err := s.get(ctx, key, lease, fresh); err != nil {
		return nil, s.fail(ctx, err, what)
	}
	return lease, nil
}

// fail turns an API error about what into the gRPC status for the client, and logs the
// failures that are the service's, not the caller's.
func (s *Server) fail(ctx context.Context, err error, what string) error {
	err = leaseapi.APIError(err, what)
	switch status.Code(err) {
	case codes.Internal, codes.Unavailable, codes.Unknown:
		klog.FromContext(ctx).Error(err, "ClientService request failed", "object", what)
	}
	return err
}

func leaseWhat(name string) string { return fmt.Sprintf("lease %q", name) }
