package exporter

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"k8s.io/klog/v2"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Status messages of the Python exporter.
const (
	msgRegistered   = "Exporter registered and available"
	msgLeaseReady   = "Ready for commands"
	msgAvailable    = "Available for new lease"
	msgShuttingDown = "Exporter shutting down"
	reasonShutdown  = "Exporter shutdown"
)

// statusState is the exporter's own view of its status, which GetStatus serves inside the
// tunnel; every change is also reported to the controller.
type statusState struct {
	mu       sync.Mutex
	current  jumpstarterv1.ExporterStatus
	previous jumpstarterv1.ExporterStatus
	message  string
	version  uint64
}

func (s *statusState) set(st jumpstarterv1.ExporterStatus, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.previous, s.current, s.message = s.current, st, message
	s.version++
}

func (s *statusState) get() *jumpstarterv1.GetStatusResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &jumpstarterv1.GetStatusResponse{
		Status:         s.current,
		Message:        proto.String(s.message),
		StatusVersion:  s.version,
		PreviousStatus: s.previous.Enum(),
	}
}

// reporter sends status reports to the controller, latest wins: while a report is being
// retried, a newer one replaces it.
type reporter struct {
	ctl   jumpstarterv1.ControllerServiceClient
	retry RetryPolicy

	mu      sync.Mutex
	pending *jumpstarterv1.ReportStatusRequest
	wake    chan struct{}
}

func newReporter(ctl jumpstarterv1.ControllerServiceClient, retry RetryPolicy) *reporter {
	return &reporter{ctl: ctl, retry: retry, wake: make(chan struct{}, 1)}
}

func (r *reporter) report(st jumpstarterv1.ExporterStatus, message string) {
	r.mu.Lock()
	r.pending = &jumpstarterv1.ReportStatusRequest{Status: st, Message: proto.String(message)}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run sends reports until ctx ends.
func (r *reporter) run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	for {
		r.mu.Lock()
		req := r.pending
		r.pending = nil
		r.mu.Unlock()
		if req == nil {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
				continue
			}
		}
		err := callWithRetry(ctx, r.retry, r.wake, func(ctx context.Context) error {
			_, err := r.ctl.ReportStatus(ctx, req)
			return err
		})
		switch {
		case err == nil:
			logger.V(1).Info("Status reported", "status", req.GetStatus(), "message", req.GetMessage())
		case errors.Is(err, errSuperseded):
			// The wake may have been for this very report: keep it unless a newer one came.
			r.mu.Lock()
			if r.pending == nil {
				r.pending = req
			}
			r.mu.Unlock()
		case ctx.Err() != nil:
		default:
			logger.Error(err, "Status report failed", "status", req.GetStatus())
		}
	}
}

// errSuperseded ends the retries of a call that a newer one replaces.
var errSuperseded = errors.New("superseded by a newer call")

// retryable are the codes §3.8 retries.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// callWithRetry runs call with the policy's deadline and retries it as §3.8 says. A signal on
// interrupt during a backoff gives up with errSuperseded.
func callWithRetry(ctx context.Context, p RetryPolicy, interrupt <-chan struct{}, call func(context.Context) error) error {
	backoff := p.Backoff
	for retries := 0; ; retries++ {
		callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
		err := call(callCtx)
		cancel()
		if err == nil || !retryable(err) || retries >= p.Retries || ctx.Err() != nil {
			return err
		}
		klog.FromContext(ctx).V(1).Info("Controller call failed, retrying", "err", err, "retry", retries+1, "after", backoff)
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-interrupt:
			timer.Stop()
			return errSuperseded
		}
		backoff = min(2*backoff, p.MaxBackoff)
	}
}
