package leaseapi

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/auth/identity"
)

// Caller is the authenticated caller of an RPC, which must act as kind. The authentication
// layer checks both before a service runs; the services check again so that a wiring mistake
// fails closed.
func Caller(ctx context.Context, kind identity.Kind) (identity.Identity, error) {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return identity.Identity{}, status.Error(codes.Unauthenticated, "the request carries no authenticated caller")
	}
	if id.Kind != kind {
		return identity.Identity{}, status.Error(codes.InvalidArgument, "object kind mismatch")
	}
	return id, nil
}
