package jmpclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// ErrLeaseTransferred: Dial answered "permission denied", which the Python tools read as the
// lease having passed to another client (§3.7); retrying will not help.
var ErrLeaseTransferred = errors.New("permission denied: the lease belongs to another client (transferred?)")

// UnreachableError: Dial failed in a way retrying within dial_timeout does not fix; for a
// lease the client just acquired, the Python tools release it and lease again.
type UnreachableError struct {
	Lease string
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("exporter of lease %s unreachable: %v", e.Lease, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Dial asks the controller for a ticket to the exporter of a lease, retrying while the
// exporter is getting ready (§3.7): on FAILED_PRECONDITION whose message says "not ready",
// and on UNAVAILABLE, with back-off from 0.3 s doubling to 2 s, for at most timeout. It then
// fails with a *TimeoutError. "permission denied" gives ErrLeaseTransferred; any other error
// an *UnreachableError.
func (c *Client) Dial(ctx context.Context, ref string, timeout time.Duration) (*jumpstarterv1.DialResponse, error) {
	name, err := c.LeaseName(ref)
	if err != nil {
		return nil, err
	}
	id := BareName(name)
	deadline := time.Now().Add(timeout)
	backoff := c.dialBackoff()
	for {
		resp, err := c.Controller.Dial(ctx, &jumpstarterv1.DialRequest{LeaseName: id})
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !Retryable(err) {
			if strings.Contains(strings.ToLower(status.Convert(err).Message()), "permission denied") {
				return nil, fmt.Errorf("dial lease %s: %w", id, ErrLeaseTransferred)
			}
			return nil, &UnreachableError{Lease: id, Err: err}
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, &TimeoutError{Op: "dial", Lease: id, Timeout: timeout, Last: status.Convert(err).Message()}
		}
		if err := c.sleep(ctx, min(backoff.Step(), remaining)); err != nil {
			return nil, err
		}
	}
}

// Retryable says whether a Dial error means "not yet" (§3.12).
func Retryable(err error) bool {
	s := status.Convert(err)
	switch s.Code() {
	case codes.Unavailable:
		return true
	case codes.FailedPrecondition:
		return strings.Contains(s.Message(), "not ready")
	}
	return false
}
