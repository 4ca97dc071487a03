package exporter

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/grpcauth"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// The agent repeats the metadata keys so as not to link the controller's authentication.
func TestMetadataKeysMatchGRPCAuth(t *testing.T) {
	for _, tc := range [][2]string{
		{metadataAuthorization, grpcauth.MetadataAuthorization},
		{metadataKind, grpcauth.MetadataKind},
		{metadataNamespace, grpcauth.MetadataNamespace},
		{metadataName, grpcauth.MetadataName},
	} {
		if tc[0] != tc[1] {
			t.Errorf("metadata key %q, grpcauth says %q", tc[0], tc[1])
		}
	}
}

func testPolicy() RetryPolicy {
	p := DefaultRetryPolicy()
	p.Retries, p.Backoff, p.MaxBackoff, p.CallTimeout = 3, time.Millisecond, 4*time.Millisecond, time.Second
	return p
}

func TestCallWithRetry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int
		code      codes.Code
		wantCalls int32
		wantErr   bool
	}{
		{"success", 0, codes.OK, 1, false},
		{"unavailable, then success", 2, codes.Unavailable, 3, false},
		{"deadline exceeded is retried", 1, codes.DeadlineExceeded, 2, false},
		{"retries run out", 10, codes.Unavailable, 4, true},
		{"other codes are not retried", 10, codes.PermissionDenied, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			err := callWithRetry(t.Context(), testPolicy(), nil, func(context.Context) error {
				if int(calls.Add(1)) <= tc.failures {
					return status.Error(tc.code, "no")
				}
				return nil
			})
			if calls.Load() != tc.wantCalls || (err != nil) != tc.wantErr {
				t.Errorf("%d calls, error %v; want %d calls, error %v", calls.Load(), err, tc.wantCalls, tc.wantErr)
			}
		})
	}
}

// statusRecorder is a ControllerService client whose ReportStatus fails while fail is set.
type statusRecorder struct {
	jumpstarterv1.ControllerServiceClient
	fail atomic.Bool
	sent chan jumpstarterv1.ExporterStatus
}

func (s *statusRecorder) ReportStatus(_ context.Context, req *jumpstarterv1.ReportStatusRequest, _ ...grpc.CallOption) (*jumpstarterv1.ReportStatusResponse, error) {
	if s.fail.Load() {
		return nil, status.Error(codes.Unavailable, "down")
	}
	s.sent <- req.GetStatus()
	return &jumpstarterv1.ReportStatusResponse{}, nil
}

// While the controller is down, reports pile up; only the latest is sent when it is back.
func TestReporterLatestWins(t *testing.T) {
	ctl := &statusRecorder{sent: make(chan jumpstarterv1.ExporterStatus, 8)}
	ctl.fail.Store(true)
	p := testPolicy()
	p.Retries, p.Backoff, p.MaxBackoff = 1000, 5*time.Millisecond, 5*time.Millisecond
	r := newReporter(ctl, p)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go r.run(ctx)
	r.report(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "a")
	time.Sleep(20 * time.Millisecond)
	r.report(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, "b")
	r.report(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "c")
	time.Sleep(20 * time.Millisecond)
	ctl.fail.Store(false)
	select {
	case got := <-ctl.sent:
		if got != jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE {
			t.Errorf("sent %s first, want the latest, AVAILABLE", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing reported")
	}
	select {
	case got := <-ctl.sent:
		t.Errorf("sent %s too; want only the latest", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestStatusState(t *testing.T) {
	var s statusState
	s.set(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "a")
	s.set(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, "b")
	got := s.get()
	if got.GetStatus() != jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY || got.GetMessage() != "b" ||
		got.GetStatusVersion() != 2 || got.GetPreviousStatus() != jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE {
		t.Errorf("GetStatus = %v", got)
	}
}
