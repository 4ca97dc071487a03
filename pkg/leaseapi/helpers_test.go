package leaseapi

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// wantStatus checks that err is a gRPC status with code and a message containing each of parts.
// code OK means err must be nil.
func wantStatus(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	if code == codes.OK {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status (want %s)", err, code)
	}
	if st.Code() != code {
		t.Fatalf("code = %s, want %s (message %q)", st.Code(), code, st.Message())
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("message %q does not contain %q", st.Message(), p)
		}
	}
	if len(st.Message()) > maxMessageLength {
		t.Errorf("message of %d bytes is longer than %d", len(st.Message()), maxMessageLength)
	}
}
