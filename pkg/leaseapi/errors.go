package leaseapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxMessageLength bounds the text of an error: it travels in an HTTP/2 header, and a message
// that echoes an oversized request field would not fit.
const maxMessageLength = 1024

// maxQuotedLength bounds a request value quoted in a message.
const maxQuotedLength = 80

func clip(s string) string {
	if len(s) <= maxMessageLength {
		return s
	}
	return s[:maxMessageLength-3] + "..."
}

// quote renders a value from the request for a message, shortened.
func quote(s string) string {
	if len(s) > maxQuotedLength {
		return strconv.Quote(s[:maxQuotedLength]) + "..."
	}
	return strconv.Quote(s)
}

// invalidArgument is the INVALID_ARGUMENT error for one request field.
func invalidArgument(fieldName, format string, args ...any) error {
	return status.Error(codes.InvalidArgument, clip(fieldName+": "+fmt.Sprintf(format, args...)))
}

// invalidFields is the INVALID_ARGUMENT error for a list of field errors, or nil.
func invalidFields(errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return status.Error(codes.InvalidArgument, clip(errs.ToAggregate().Error()))
}

// APIError turns an error of a Kubernetes API call about what (such as `lease
// "namespaces/lab/leases/l1"`) into a gRPC status a client can act on: NOT_FOUND,
// ALREADY_EXISTS, ABORTED on a write conflict (try again), INVALID_ARGUMENT when the API server
// rejected the object, UNAVAILABLE when it is overloaded or unreachable, INTERNAL otherwise.
// gRPC status errors pass through unchanged.
func APIError(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var code codes.Code
	var msg string
	switch {
	case errors.Is(err, context.Canceled):
		code, msg = codes.Canceled, what+": request canceled"
	case errors.Is(err, context.DeadlineExceeded):
		code, msg = codes.DeadlineExceeded, what+": deadline exceeded"
	case apierrors.IsNotFound(err):
		code, msg = codes.NotFound, what+" not found"
	case apierrors.IsAlreadyExists(err):
		code, msg = codes.AlreadyExists, what+" already exists"
	case apierrors.IsConflict(err):
		code, msg = codes.Aborted, what+" was changed concurrently; try again"
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsRequestEntityTooLargeError(err):
		code, msg = codes.InvalidArgument, fmt.Sprintf("%s: %v", what, err)
	case apierrors.IsForbidden(err):
		code, msg = codes.PermissionDenied, fmt.Sprintf("%s: %v", what, err)
	case apierrors.IsTooManyRequests(err), apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err),
		apierrors.IsServerTimeout(err):
		code, msg = codes.Unavailable, fmt.Sprintf("%s: %v", what, err)
	default:
		code, msg = codes.Internal, fmt.Sprintf("%s: %v", what, err)
	}
	return status.Error(code, clip(msg))
}
