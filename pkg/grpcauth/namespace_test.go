package grpcauth

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/auth/identity"
)

func TestCheckNamespace(t *testing.T) {
	alice := identity.NewContext(context.Background(), identity.Identity{Kind: identity.KindClient, Namespace: "lab", Name: "alice"})
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		namespace string
		wantCode  codes.Code
		wantMsg   string
	}{
		{name: "own namespace", ctx: alice, namespace: "lab"},
		{name: "other namespace", ctx: alice, namespace: "other", wantCode: codes.PermissionDenied,
			wantMsg: `namespace mismatch: client lab/alice may only access namespace "lab", not "other"`},
		{name: "empty namespace", ctx: alice, namespace: "", wantCode: codes.PermissionDenied,
			wantMsg: `namespace mismatch: client lab/alice may only access namespace "lab", not ""`},
		{name: "no identity", ctx: context.Background(), namespace: "lab", wantCode: codes.Internal,
			wantMsg: "no authenticated caller in the request context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(CheckNamespace(tc.ctx, tc.namespace))
			if st.Code() != tc.wantCode || st.Message() != tc.wantMsg {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tc.wantCode, tc.wantMsg)
			}
		})
	}
}
