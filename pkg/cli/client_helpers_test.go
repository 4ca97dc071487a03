package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"jumpstarter.dev/service/pkg/cli/session"
	"jumpstarter.dev/service/pkg/jmpclient"
	"jumpstarter.dev/service/pkg/jmpclient/jmpclienttest"
)

// syncBuffer is a bytes.Buffer that a running command and the test may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeExporter is the tunnel and the driver client of a fake exporter: it records what it is
// asked and answers as scripted.
type fakeExporter struct {
	// shell answers Shell; nil prints the args and exits 0.
	shell func(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error)
	// drivers are the exporter's drivers by kind.
	drivers map[string][]string

	mu          sync.Mutex
	tunnels     []string // transport endpoint token of each tunnel
	calls       []string
	endSessions int
	open        int // sessions open now
}

func newFakeExporter() *fakeExporter {
	return &fakeExporter{drivers: map[string][]string{"shell": {"sh"}, "power": {"power"}, "tcp": {"ssh", "http"}}}
}

func (f *fakeExporter) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeExporter) snapshot() (tunnels, calls []string, endSessions, open int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tunnels...), append([]string(nil), f.calls...), f.endSessions, f.open
}

func (f *fakeExporter) deps() session.Deps {
	return session.Deps{
		Tunnel: session.TunnelDialerFunc(func(ctx context.Context, transport, endpoint, token string, tlsConfig *tls.Config) (net.Conn, error) {
			if tlsConfig == nil || tlsConfig.RootCAs == nil {
				return nil, fmt.Errorf("no trust for the router")
			}
			f.mu.Lock()
			f.tunnels = append(f.tunnels, transport+" "+endpoint+" "+token)
			f.mu.Unlock()
			a, _ := net.Pipe()
			return a, nil
		}),
		OpenDrivers: func(ctx context.Context, conn net.Conn) (session.Drivers, error) {
			f.mu.Lock()
			f.open++
			f.mu.Unlock()
			return &fakeDrivers{f: f, conn: conn}, nil
		},
	}
}

type fakeDrivers struct {
	f      *fakeExporter
	conn   net.Conn
	closed bool
}

// find resolves an empty driver name as the driver client does: the only one of its kind.
func (d *fakeDrivers) find(name, kind string) (string, error) {
	if name != "" {
		return name, nil
	}
	names := d.f.drivers[kind]
	if len(names) != 1 {
		return "", fmt.Errorf("the exporter has %d %s drivers, name one", len(names), kind)
	}
	return names[0], nil
}

func (d *fakeDrivers) Power(_ context.Context, driver, action string) error {
	driver, err := d.find(driver, "power")
	if err != nil {
		return err
	}
	d.f.record("power " + driver + " " + action)
	return nil
}

func (d *fakeDrivers) Shell(ctx context.Context, driver string, args []string, stdout, stderr io.Writer) (int, error) {
	driver, err := d.find(driver, "shell")
	if err != nil {
		return 0, err
	}
	d.f.record("shell " + driver + " " + strings.Join(args, " "))
	if d.f.shell != nil {
		return d.f.shell(ctx, args, stdout, stderr)
	}
	fmt.Fprintln(stdout, strings.Join(args, " "))
	return 0, nil
}

// Connect is an echo service.
func (d *fakeDrivers) Connect(_ context.Context, driver string) (net.Conn, error) {
	driver, err := d.find(driver, "tcp")
	if err != nil {
		return nil, err
	}
	d.f.record("connect " + driver)
	a, b := net.Pipe()
	go func() {
		_, _ = io.Copy(b, b)
		_ = b.Close()
	}()
	return a, nil
}

func (d *fakeDrivers) EndSession(context.Context) error {
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	d.f.endSessions++
	return nil
}

func (d *fakeDrivers) Close() error {
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	if !d.closed {
		d.closed = true
		d.f.open--
	}
	return d.conn.Close()
}

// clientTest runs jmpctl client commands against a fake controller and a fake exporter.
type clientTest struct {
	srv      *jmpclienttest.Server
	exporter *fakeExporter
	config   string
	env      map[string]string
	in       io.Reader
	noDeps   bool
}

func newClientTest(t *testing.T) *clientTest {
	srv := jmpclienttest.NewServer(t)
	return &clientTest{srv: srv, exporter: newFakeExporter(), config: srv.WriteConfig(t, t.TempDir()), env: map[string]string{}}
}

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *clientTest) options() Options {
	opts := Options{
		Getenv: func(k string) string { return c.env[k] },
		Connect: func(cfg *jmpclient.Config) (*jmpclient.Client, error) {
			client, err := jmpclient.Connect(cfg)
			if err != nil {
				return nil, err
			}
			short := wait.Backoff{Duration: 2 * time.Millisecond, Factor: 2, Cap: 10 * time.Millisecond, Steps: 100}
			client.Timing = jmpclient.Timing{Poll: 5 * time.Millisecond, NoExporterDelay: time.Millisecond, GetLeaseBackoff: short, DialBackoff: short}
			return client, nil
		},
		Now: func() time.Time { return testNow },
	}
	if !c.noDeps {
		opts.Session = c.exporter.deps()
	} else {
		// Half wired is not wired (the zero Deps would mean the defaults).
		opts.Session = session.Deps{Tunnel: c.exporter.deps().Tunnel}
	}
	return opts
}

// run runs jmpctl --config FILE args... and returns the exit code, stdout and stderr.
func (c *clientTest) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return c.runContext(t.Context(), args...)
}

func (c *clientTest) runContext(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut syncBuffer
	code := RunWith(ctx, append([]string{"--config", c.config}, args...), Streams{In: c.in, Out: &out, ErrOut: &errOut}, c.options())
	return code, out.String(), errOut.String()
}
