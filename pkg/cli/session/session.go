package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"jumpstarter.dev/service/pkg/jmpclient"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Transports a tunnel can take to the router.
const (
	TransportGRPC = "grpc"
	TransportQUIC = "quic"
)

// ReleaseBudget bounds ending the session and releasing the lease on the way out, as the
// Python tools do (§3.7 step 9).
const ReleaseBudget = 30 * time.Second

// TunnelDialer opens the byte stream to the exporter's session through the router named by
// a Dial ticket (§3.10): the bytes of the returned conn are those of the session's gRPC
// connection. tlsConfig holds the trust of the client config, without a ServerName.
type TunnelDialer interface {
	Dial(ctx context.Context, transport, endpoint, token string, tlsConfig *tls.Config) (net.Conn, error)
}

// TunnelDialerFunc makes a function a TunnelDialer.
type TunnelDialerFunc func(ctx context.Context, transport, endpoint, token string, tlsConfig *tls.Config) (net.Conn, error)

// Dial implements TunnelDialer.
func (f TunnelDialerFunc) Dial(ctx context.Context, transport, endpoint, token string, tlsConfig *tls.Config) (net.Conn, error) {
	return f(ctx, transport, endpoint, token, tlsConfig)
}

// Drivers is the driver client of one exporter session, over one tunnel: exactly what the
// commands use of it (*driverclient.Client has it). An empty driver name means the
// exporter's only driver of the kind the method needs; more or none is an error naming them.
type Drivers interface {
	// Power switches a power driver: on, off or cycle.
	Power(ctx context.Context, driver, action string) error
	// Shell runs args with a shell driver, copying its output, and returns its exit code.
	Shell(ctx context.Context, driver string, args []string, stdout, stderr io.Writer) (int, error)
	// Connect opens the byte stream of a network or serial driver ("connect").
	Connect(ctx context.Context, driver string) (net.Conn, error)
	// EndSession tells the exporter that the client is done with the lease's session.
	EndSession(ctx context.Context) error
	// Close closes the client and the tunnel under it.
	Close() error
}

// OpenDrivers starts the driver client of a session over a tunnel conn; the client owns the
// conn from then on.
type OpenDrivers func(ctx context.Context, conn net.Conn) (Drivers, error)

// Deps are the tunnel and driver client implementations; they live in other packages.
type Deps struct {
	Tunnel      TunnelDialer
	OpenDrivers OpenDrivers
}

// ErrNotWired: this build of jmpctl has no tunnel or driver client.
var ErrNotWired = errors.New("this jmpctl has no tunnel or driver client wired in (cli.DefaultSessionDeps): " +
	"shell, forward and power are not available")

// Opener opens sessions with the exporter of a lease.
type Opener struct {
	Client *jmpclient.Client
	Deps   Deps
	// Transport is TransportGRPC or TransportQUIC.
	Transport string
	// TLS is the trust for the router, the config's (jmpclient.TLSConfig).
	TLS *tls.Config
	// DialTimeout bounds the Dial retries (leases.dial_timeout).
	DialTimeout time.Duration
}

// ValidateTransport checks a --transport value.
func ValidateTransport(t string) error {
	if t != TransportGRPC && t != TransportQUIC {
		return fmt.Errorf("--transport %q: want %s or %s", t, TransportGRPC, TransportQUIC)
	}
	return nil
}

// Wired says whether the tunnel and driver client are there: ErrNotWired if not.
func (o *Opener) Wired() error {
	if o.Deps.Tunnel == nil || o.Deps.OpenDrivers == nil {
		return ErrNotWired
	}
	return nil
}

// Tunnel dials the lease's exporter (with the Dial retries of §3.7) and opens a tunnel to
// it.
func (o *Opener) Tunnel(ctx context.Context, lease string) (net.Conn, error) {
	if err := o.Wired(); err != nil {
		return nil, err
	}
	ticket, err := o.Client.Dial(ctx, lease, o.DialTimeout)
	if err != nil {
		return nil, err
	}
	return o.TunnelTicket(ctx, ticket)
}

// TunnelTicket opens a tunnel with a ticket Dial returned.
func (o *Opener) TunnelTicket(ctx context.Context, ticket *jumpstarterv1.DialResponse) (net.Conn, error) {
	if err := o.Wired(); err != nil {
		return nil, err
	}
	conn, err := o.Deps.Tunnel.Dial(ctx, o.Transport, ticket.GetRouterEndpoint(), ticket.GetRouterToken(), o.TLS.Clone())
	if err != nil {
		return nil, fmt.Errorf("tunnel through router %s (%s): %w", ticket.GetRouterEndpoint(), o.Transport, err)
	}
	return conn, nil
}

// Open opens a session with the lease's exporter and its driver client. A ticket from an
// earlier Dial is used when not nil, else Dial is called.
func (o *Opener) Open(ctx context.Context, lease string, ticket *jumpstarterv1.DialResponse) (Drivers, error) {
	var conn net.Conn
	var err error
	if ticket != nil {
		conn, err = o.TunnelTicket(ctx, ticket)
	} else {
		conn, err = o.Tunnel(ctx, lease)
	}
	if err != nil {
		return nil, err
	}
	d, err := o.Deps.OpenDrivers(ctx, conn)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("open the session of lease %s: %w", jmpclient.BareName(lease), err)
	}
	return d, nil
}

// Connect opens a session and the byte stream of a network driver in it. Closing the
// returned conn closes the session too.
func (o *Opener) Connect(ctx context.Context, lease, driver string) (net.Conn, error) {
	d, err := o.Open(ctx, lease, nil)
	if err != nil {
		return nil, err
	}
	stream, err := d.Connect(ctx, driver)
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("connect to driver %s: %w", driver, err)
	}
	return &sessionConn{Conn: stream, drivers: d}, nil
}

// sessionConn is a driver stream that closes its session with it.
type sessionConn struct {
	net.Conn
	drivers Drivers
}

func (c *sessionConn) Close() error {
	return errors.Join(c.Conn.Close(), c.drivers.Close())
}

// CloseWrite half-closes the stream when it can.
func (c *sessionConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// Acquisition is a lease to acquire.
type Acquisition struct {
	Request jmpclient.LeaseRequest
	// Timeout bounds each wait for the lease to become ready.
	Timeout time.Duration
	// RetryTimeout bounds leasing again when the exporter of a fresh lease is unreachable.
	RetryTimeout time.Duration
	// Progress, when not nil, is told about each poll.
	Progress func(jmpclient.Progress)
	// Notify, when not nil, is told about what happens besides polls (a lease created,
	// released because unreachable).
	Notify func(msg string)
}

// Acquire creates a lease, waits until it is ready and dials its exporter (§3.7 steps 2-5).
// When the exporter is unreachable, it releases the lease and starts again, until
// RetryTimeout has passed. It returns the lease and the Dial ticket; on error, the lease it
// holds (nil if none) for the caller to release.
func (o *Opener) Acquire(ctx context.Context, a Acquisition) (*clientv1.Lease, *jumpstarterv1.DialResponse, error) {
	notify := a.Notify
	if notify == nil {
		notify = func(string) {}
	}
	start := time.Now()
	for {
		lease, err := o.Client.Acquire(ctx, a.Request, a.Timeout, a.Progress)
		if err != nil {
			return lease, nil, err
		}
		id := jmpclient.BareName(lease.GetName())
		notify(fmt.Sprintf("lease %s ready on exporter %s", id, jmpclient.BareName(lease.GetExporter())))
		ticket, err := o.Client.Dial(ctx, lease.GetName(), o.DialTimeout)
		if err == nil {
			return lease, ticket, nil
		}
		var unreachable *jmpclient.UnreachableError
		if !errors.As(err, &unreachable) || time.Since(start) >= a.RetryTimeout {
			return lease, nil, err
		}
		notify(fmt.Sprintf("%v; releasing lease %s and leasing again", err, id))
		if err := Release(ctx, o.Client, lease.GetName()); err != nil {
			notify(err.Error())
		}
	}
}

// Release releases a lease within ReleaseBudget, also when ctx has ended (Ctrl-C).
func Release(ctx context.Context, c *jmpclient.Client, lease string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReleaseBudget)
	defer cancel()
	return c.ReleaseLease(ctx, lease)
}

// EndSession ends a session within ReleaseBudget, also when ctx has ended.
func EndSession(ctx context.Context, d Drivers) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReleaseBudget)
	defer cancel()
	return d.EndSession(ctx)
}
