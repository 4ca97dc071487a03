package exporter

import (
	"context"
	"net"
	"time"

	"google.golang.org/grpc"

	"jumpstarter.dev/service/pkg/drivers"
)

// Dialer opens the tunnel of one Listen ticket: a connection to the router at endpoint,
// authenticated with the ticket's token, whose bytes are the tunnel's. The agent serves its
// session on the returned connection and closes it when the session ends. ctx is the
// lease's: it ends when the lease does.
type Dialer func(ctx context.Context, endpoint, token string) (net.Conn, error)

// RetryPolicy says how the agent retries controller calls (wire contract §3.8).
type RetryPolicy struct {
	// Retries of a unary call that failed with UNAVAILABLE or DEADLINE_EXCEEDED.
	Retries int
	// Backoff before the first retry; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// CallTimeout is each unary call's deadline.
	CallTimeout time.Duration

	// StreamRetries of a server stream (Status, Listen) that failed in a row.
	StreamRetries int
	// StreamWaitUnavailable before reopening a stream that failed with UNAVAILABLE
	// ("Stream removed"), StreamWait after other failures.
	StreamWaitUnavailable, StreamWait time.Duration

	// ShutdownTimeout bounds the OFFLINE report and Unregister at the end of Run.
	ShutdownTimeout time.Duration

	// Reconnect is the wait of RunUntilDone before registering again after Run gave up on
	// the controller: it starts at Backoff, doubles up to MaxBackoff, and starts over after a
	// connection that lasted ReconnectReset.
	ReconnectReset time.Duration
}

// DefaultRetryPolicy is the Python exporter's.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		Retries:               20,
		Backoff:               time.Second,
		MaxBackoff:            30 * time.Second,
		CallTimeout:           30 * time.Second,
		StreamRetries:         5,
		ReconnectReset:        time.Minute,
		StreamWaitUnavailable: 500 * time.Millisecond,
		StreamWait:            time.Second,
		ShutdownTimeout:       10 * time.Second,
	}
}

// Option changes how New builds an Agent.
type Option func(*options)

type options struct {
	registry    *drivers.Registry
	dialOptions []grpc.DialOption
	retry       RetryPolicy
}

// WithRegistry builds the driver tree with r instead of the built-in drivers.
func WithRegistry(r *drivers.Registry) Option {
	return func(o *options) { o.registry = r }
}

// WithControllerDialOptions adds options to the controller connection, after the agent's
// own (TLS, credentials, keepalive), so they can replace them.
func WithControllerDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(o *options) { o.retry = p }
}
