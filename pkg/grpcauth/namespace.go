package grpcauth

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/auth/identity"
)

// CheckNamespace is §3.2 step 10, which ClientService handlers run on the namespace of each
// resource name in a request (parent, name, transfer target): a caller only reaches objects
// in its own namespace. It is not in the interceptor because the namespace is in the
// request message, which only the handler parses.
func CheckNamespace(ctx context.Context, namespace string) error {
	id, ok := identity.FromContext(ctx)
	if !ok {
		// A handler without the interceptor in front of it: a wiring bug, not the caller's.
		return status.Error(codes.Internal, "no authenticated caller in the request context")
	}
	if namespace != id.Namespace {
		return status.Errorf(codes.PermissionDenied, "namespace mismatch: %s may only access namespace %q, not %q", id, id.Namespace, namespace)
	}
	return nil
}
