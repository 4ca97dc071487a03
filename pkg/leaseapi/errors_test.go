package leaseapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestAPIError(t *testing.T) {
	gr := schema.GroupResource{Group: "jumpstarter.dev", Resource: "leases"}
	what := `lease "namespaces/lab/leases/l1"`
	tests := []struct {
		err   error
		code  codes.Code
		parts []string
	}{
		{nil, codes.OK, nil},
		{apierrors.NewNotFound(gr, "l1"), codes.NotFound, []string{what + " not found"}},
		{fmt.Errorf("get: %w", apierrors.NewNotFound(gr, "l1")), codes.NotFound, []string{what}},
		{apierrors.NewAlreadyExists(gr, "l1"), codes.AlreadyExists, []string{what + " already exists"}},
		{apierrors.NewConflict(gr, "l1", errors.New("changed")), codes.Aborted, []string{"try again"}},
		{apierrors.NewInvalid(schema.GroupKind{Group: "jumpstarter.dev", Kind: "Lease"}, "l1",
			field.ErrorList{field.Invalid(field.NewPath("spec", "duration"), "0s", "must be positive")}), codes.InvalidArgument, []string{"spec.duration"}},
		{apierrors.NewTooManyRequests("slow down", 1), codes.Unavailable, []string{what}},
		{apierrors.NewInternalError(errors.New("boom")), codes.Internal, []string{"boom"}},
		{context.Canceled, codes.Canceled, nil},
		{status.Error(codes.PermissionDenied, "namespace mismatch"), codes.PermissionDenied, []string{"namespace mismatch"}},
		{errors.New(strings.Repeat("x", 10_000)), codes.Internal, nil},
	}
	for _, tt := range tests {
		wantStatus(t, APIError(tt.err, what), tt.code, tt.parts...)
	}
}
