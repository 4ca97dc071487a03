package jmpclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/wait"

	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Waits of the client flow (wire contract §3.7).
const (
	// DefaultPoll is how often GetLease is asked while a lease waits (the Python client's
	// interval). The first polls come sooner (FirstPoll, doubling up to the interval): most
	// leases are granted within a fraction of a second, and a CLI that always waited 5 s for
	// the first answer would make every short command take 5 s.
	DefaultPoll = 5 * time.Second
	FirstPoll   = 100 * time.Millisecond
	// NoExporterDelay is the pause before a new lease replaces one that an older controller
	// ended with the transient reason NoExporter.
	NoExporterDelay = 5 * time.Second
)

// DefaultGetLeaseBackoff spaces the retries of a failing GetLease: from 1 s, doubling, with
// jitter, at most 120 s apart.
func DefaultGetLeaseBackoff() wait.Backoff {
	return wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Cap: 120 * time.Second, Steps: 1 << 30}
}

// DefaultDialBackoff spaces the retries of Dial while the exporter gets ready: from 0.3 s,
// doubling, at most 2 s apart.
func DefaultDialBackoff() wait.Backoff {
	return wait.Backoff{Duration: 300 * time.Millisecond, Factor: 2, Cap: 2 * time.Second, Steps: 1 << 30}
}

// Timing are the waits of a Client; the zero value means the defaults. Tests shorten them.
type Timing struct {
	Poll            time.Duration
	NoExporterDelay time.Duration
	// GetLeaseBackoff and DialBackoff are used when their Duration is set.
	GetLeaseBackoff wait.Backoff
	DialBackoff     wait.Backoff
	// Sleep waits d or until ctx ends; nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c *Client) poll() time.Duration {
	if c.Timing.Poll > 0 {
		return c.Timing.Poll
	}
	return DefaultPoll
}

func (c *Client) noExporterDelay() time.Duration {
	if c.Timing.NoExporterDelay > 0 {
		return c.Timing.NoExporterDelay
	}
	return NoExporterDelay
}

func (c *Client) getLeaseBackoff() wait.Backoff {
	if c.Timing.GetLeaseBackoff.Duration > 0 {
		return c.Timing.GetLeaseBackoff
	}
	return DefaultGetLeaseBackoff()
}

func (c *Client) dialBackoff() wait.Backoff {
	if c.Timing.DialBackoff.Duration > 0 {
		return c.Timing.DialBackoff
	}
	return DefaultDialBackoff()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Timing.Sleep != nil {
		return c.Timing.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Lease condition types (wire contract §3.6).
const (
	ConditionPending       = "Pending"
	ConditionReady         = "Ready"
	ConditionUnsatisfiable = "Unsatisfiable"
	ConditionInvalid       = "Invalid"
	// ReasonNoExporter is the legacy Unsatisfiable reason that clients treat as transient.
	ReasonNoExporter = "NoExporter"
)

// State is where a lease stands by the acquisition rules of §3.6.
type State int

const (
	// StateWaiting: no conditions, or Pending=True; keep waiting.
	StateWaiting State = iota
	// StateReady: Ready=True.
	StateReady
	// StateFailed: Unsatisfiable=True or Invalid=True, or Pending=False or Ready=False before
	// success. The lease will never become ready.
	StateFailed
	// StateTransient: Unsatisfiable=True with the legacy reason NoExporter; a new lease may
	// succeed.
	StateTransient
)

// Evaluate applies the §3.6 rules to a lease and returns its state and the condition that
// decided it (the Pending condition, or nil, while waiting).
func Evaluate(l *clientv1.Lease) (State, *jumpstarterv1.Condition) {
	if c := condition(l, ConditionReady); c != nil && c.GetStatus() == "True" {
		return StateReady, c
	}
	if c := condition(l, ConditionUnsatisfiable); c != nil && c.GetStatus() == "True" {
		if c.GetReason() == ReasonNoExporter {
			return StateTransient, c
		}
		return StateFailed, c
	}
	if c := condition(l, ConditionInvalid); c != nil && c.GetStatus() == "True" {
		return StateFailed, c
	}
	if c := condition(l, ConditionPending); c != nil && c.GetStatus() == "False" {
		return StateFailed, c
	}
	if c := condition(l, ConditionReady); c != nil && c.GetStatus() == "False" {
		return StateFailed, c
	}
	return StateWaiting, condition(l, ConditionPending)
}

// condition is the last condition of type t: there should be one per type, and the last
// is the latest.
func condition(l *clientv1.Lease, t string) *jumpstarterv1.Condition {
	var out *jumpstarterv1.Condition
	for _, c := range l.GetConditions() {
		if c.GetType() == t {
			out = c
		}
	}
	return out
}

// LeaseFailedError: the lease will never become ready (StateFailed).
type LeaseFailedError struct {
	// Lease is the bare lease id.
	Lease string
	// Type, Status, Reason and Message are those of the deciding condition.
	Type, Status, Reason, Message string
}

func (e *LeaseFailedError) Error() string {
	return fmt.Sprintf("lease %s cannot be acquired: %s=%s (%s): %s", e.Lease, e.Type, e.Status, e.Reason, e.Message)
}

func newLeaseFailedError(lease string, c *jumpstarterv1.Condition) *LeaseFailedError {
	return &LeaseFailedError{Lease: lease, Type: c.GetType(), Status: c.GetStatus(), Reason: c.GetReason(), Message: c.GetMessage()}
}

// TimeoutError: a wait ran out of time.
type TimeoutError struct {
	// Op is what timed out: "acquisition" of a lease or "dial" of its exporter.
	Op string
	// Lease is the bare lease id.
	Lease   string
	Timeout time.Duration
	// Last is the last thing heard: the Pending message or the last error.
	Last string
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("lease %s %s timed out after %s", e.Lease, e.Op, e.Timeout)
	if e.Last != "" {
		msg += ": " + e.Last
	}
	return msg
}

// Progress is what WaitReady reports after each look at the lease.
type Progress struct {
	// Lease is the bare lease id.
	Lease   string
	Elapsed time.Duration
	// Reason and Message are the Pending condition's, when there is one.
	Reason, Message string
	// Err is a GetLease error that will be retried.
	Err error
}

// WaitReady polls a lease until it is ready (§3.6, §3.7), calling progress (when not nil)
// after each poll. It fails with a *LeaseFailedError when the lease can never be ready, and
// with a *TimeoutError after timeout. GetLease errors other than the definite ones (bad
// name, not found, no permission, expired token) are retried with back-off.
func (c *Client) WaitReady(ctx context.Context, ref string, timeout time.Duration, progress func(Progress)) (*clientv1.Lease, error) {
	l, _, err := c.waitReady(ctx, ref, timeout, progress)
	return l, err
}

// waitReady is WaitReady that also reports a lease ended as transient (StateTransient).
func (c *Client) waitReady(ctx context.Context, ref string, timeout time.Duration, progress func(Progress)) (*clientv1.Lease, State, error) {
	name, err := c.LeaseName(ref)
	if err != nil {
		return nil, StateFailed, err
	}
	id := BareName(name)
	start := time.Now()
	deadline := start.Add(timeout)
	backoff := c.getLeaseBackoff()
	last := ""
	pollDelay := min(FirstPoll, c.poll())
	for {
		var delay time.Duration
		p := Progress{Lease: id}
		l, err := c.Leases.GetLease(ctx, &clientv1.GetLeaseRequest{Name: name})
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, StateWaiting, ctx.Err()
		case err != nil && definite(err):
			return nil, StateFailed, fmt.Errorf("get lease %s: %w", id, err)
		case err != nil:
			p.Err, last = err, err.Error()
			delay = backoff.Step()
		default:
			backoff = c.getLeaseBackoff()
			state, cond := Evaluate(l)
			switch state {
			case StateReady:
				return l, state, nil
			case StateFailed:
				return l, state, newLeaseFailedError(id, cond)
			case StateTransient:
				return l, state, newLeaseFailedError(id, cond)
			}
			p.Reason, p.Message = cond.GetReason(), cond.GetMessage()
			if cond != nil {
				last = fmt.Sprintf("%s: %s", p.Reason, p.Message)
			}
			delay = pollDelay
			pollDelay = min(2*pollDelay, c.poll())
		}
		p.Elapsed = time.Since(start)
		if progress != nil {
			progress(p)
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return l, StateWaiting, &TimeoutError{Op: "acquisition", Lease: id, Timeout: timeout, Last: last}
		}
		if err := c.sleep(ctx, min(delay, remaining)); err != nil {
			return l, StateWaiting, err
		}
	}
}

// definite says whether a GetLease error will not go away by asking again.
func definite(err error) bool {
	s, _ := status.FromError(err)
	switch s.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return strings.Contains(s.Message(), "token is expired")
}

// Acquire creates a lease and waits until it is ready, within timeout in all. A lease that
// an older controller ends as transient (NoExporter) is replaced by a new one after a pause,
// as the Python tools do. It returns the last lease it created even on error (nil when
// CreateLease failed), so the caller can release it.
func (c *Client) Acquire(ctx context.Context, req LeaseRequest, timeout time.Duration, progress func(Progress)) (*clientv1.Lease, error) {
	deadline := time.Now().Add(timeout)
	for {
		created, err := c.CreateLease(ctx, req)
		if err != nil {
			return nil, err
		}
		l, state, err := c.waitReady(ctx, created.GetName(), time.Until(deadline), progress)
		if l == nil {
			l = created
		}
		if state != StateTransient {
			if t := (*TimeoutError)(nil); errors.As(err, &t) {
				t.Timeout = timeout
			}
			return l, err
		}
		if time.Until(deadline) <= c.noExporterDelay() {
			return l, &TimeoutError{Op: "acquisition", Lease: BareName(created.GetName()), Timeout: timeout, Last: err.Error()}
		}
		if err := c.sleep(ctx, c.noExporterDelay()); err != nil {
			return l, err
		}
	}
}
