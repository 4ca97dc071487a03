package exporter_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/driverclient"
	"jumpstarter.dev/service/pkg/exporter"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

const (
	testNamespace = "lab"
	testName      = "board1"
	testToken     = "exporter-token"
	waitFor       = 10 * time.Second
)

// fakeController is the exporter side of ControllerService, driven by the test.
type fakeController struct {
	jumpstarterv1.UnimplementedControllerServiceServer

	registered   chan *jumpstarterv1.RegisterRequest
	reports      chan *jumpstarterv1.ReportStatusRequest
	unregistered chan *jumpstarterv1.UnregisterRequest
	leases       chan *jumpstarterv1.StatusResponse // sent on the Status stream
	listens      chan string                        // lease names of Listen calls
	listenEnded  chan string
	tickets      chan *jumpstarterv1.ListenResponse

	statusCalls   atomic.Int32
	failStatus    atomic.Int32 // Status calls still to fail with UNAVAILABLE
	failReports   atomic.Int32 // ReportStatus calls still to fail with UNAVAILABLE
	badCredential atomic.Value // the first metadata problem seen, a string
}

func newFakeController() *fakeController {
	return &fakeController{
		registered:   make(chan *jumpstarterv1.RegisterRequest, 4),
		reports:      make(chan *jumpstarterv1.ReportStatusRequest, 32),
		unregistered: make(chan *jumpstarterv1.UnregisterRequest, 4),
		leases:       make(chan *jumpstarterv1.StatusResponse, 4),
		listens:      make(chan string, 4),
		listenEnded:  make(chan string, 4),
		tickets:      make(chan *jumpstarterv1.ListenResponse, 4),
	}
}

func (f *fakeController) Register(_ context.Context, req *jumpstarterv1.RegisterRequest) (*jumpstarterv1.RegisterResponse, error) {
	f.registered <- req
	return &jumpstarterv1.RegisterResponse{Uuid: "exporter-uid"}, nil
}

func (f *fakeController) Unregister(_ context.Context, req *jumpstarterv1.UnregisterRequest) (*jumpstarterv1.UnregisterResponse, error) {
	f.unregistered <- req
	return &jumpstarterv1.UnregisterResponse{}, nil
}

func (f *fakeController) ReportStatus(_ context.Context, req *jumpstarterv1.ReportStatusRequest) (*jumpstarterv1.ReportStatusResponse, error) {
	if f.failReports.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "controller busy")
	}
	f.reports <- req
	return &jumpstarterv1.ReportStatusResponse{}, nil
}

func (f *fakeController) Status(_ *jumpstarterv1.StatusRequest, stream grpc.ServerStreamingServer[jumpstarterv1.StatusResponse]) error {
	f.statusCalls.Add(1)
	if f.failStatus.Add(-1) >= 0 {
		return status.Error(codes.Unavailable, "Stream removed")
	}
	if err := stream.Send(&jumpstarterv1.StatusResponse{Leased: false}); err != nil {
		return err
	}
	for {
		select {
		case st := <-f.leases:
			if err := stream.Send(st); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (f *fakeController) Listen(req *jumpstarterv1.ListenRequest, stream grpc.ServerStreamingServer[jumpstarterv1.ListenResponse]) error {
	f.listens <- req.GetLeaseName()
	defer func() { f.listenEnded <- req.GetLeaseName() }()
	for {
		select {
		case t := <-f.tickets:
			if err := stream.Send(t); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

// checkMetadata records the first call without the exporter's credentials (§3.2).
func (f *fakeController) checkMetadata(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	want := map[string]string{
		"authorization":         "Bearer " + testToken,
		"jumpstarter-kind":      "Exporter",
		"jumpstarter-namespace": testNamespace,
		"jumpstarter-name":      testName,
	}
	for k, v := range want {
		if got := md.Get(k); len(got) != 1 || got[0] != v {
			f.badCredential.CompareAndSwap(nil, fmt.Sprintf("metadata %s: %q, want %q", k, got, v))
		}
	}
}

// startController serves f over TLS on loopback and returns its address and CA (PEM).
func startController(t *testing.T, f *fakeController) (string, []byte) {
	t.Helper()
	certPEM, cert := selfSigned(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			f.checkMetadata(ctx)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			f.checkMetadata(ss.Context())
			return h(srv, ss)
		}),
	)
	jumpstarterv1.RegisterControllerServiceServer(server, f)
	go func() { _ = server.Serve(lis) }()
	t.Cleanup(server.Stop)
	return lis.Addr().String(), certPEM
}

// selfSigned is a certificate for 127.0.0.1, its own CA.
func selfSigned(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "controller"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, cert
}

// openPTY opens a pseudo-terminal: the master, and the path of the device a serial driver
// opens.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	var n int
	var opErr error
	raw, err := ptm.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Control(func(fd uintptr) {
		if opErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); opErr == nil {
			n, opErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if err != nil || opErr != nil {
		t.Fatalf("unlock pty: %v %v", err, opErr)
	}
	return ptm, fmt.Sprintf("/dev/pts/%d", n)
}

// fastRetries keeps the test's retries short.
// newTunnellessAgent is an agent of the fake controller f, with fast retries, for tests that
// never open a tunnel.
func newTunnellessAgent(t *testing.T, f *fakeController) *exporter.Agent {
	t.Helper()
	endpoint, ca := startController(t, f)
	cfg := clientconfig.NewExporterConfig(testNamespace, testName)
	cfg.Endpoint, cfg.Token, cfg.TLS.CA = endpoint, testToken, clientconfig.EncodeCA(ca)
	dial := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unused") }
	agent, err := exporter.New(cfg, dial, exporter.WithRetryPolicy(fastRetries()))
	if err != nil {
		t.Fatal(err)
	}
	return agent
}

func fastRetries() exporter.RetryPolicy {
	p := exporter.DefaultRetryPolicy()
	p.Backoff, p.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	p.StreamWait, p.StreamWaitUnavailable = 20*time.Millisecond, 10*time.Millisecond
	p.ShutdownTimeout = 5 * time.Second
	return p
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func wantStatus(t *testing.T, f *fakeController, want jumpstarterv1.ExporterStatus, message string) {
	t.Helper()
	got := recv(t, f.reports, want.String())
	if got.GetStatus() != want || got.GetMessage() != message {
		t.Fatalf("ReportStatus(%s, %q), want (%s, %q)", got.GetStatus(), got.GetMessage(), want, message)
	}
}

// tunnelPair is a connected loopback TCP pair: what a router tunnel looks like to each end.
func tunnelPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := lis.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return recv(t, accepted, "accept"), c
}

// echoServer echoes every connection until the client half-closes, then closes.
func echoServer(t *testing.T) (host string, port int) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	addr := lis.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

func testConfig(t *testing.T, endpoint string, ca []byte, powerLog, tty string, echoHost string, echoPort int) *clientconfig.ExporterConfig {
	t.Helper()
	cfg := clientconfig.NewExporterConfig(testNamespace, testName)
	cfg.Endpoint, cfg.Token = endpoint, testToken
	cfg.TLS.CA = clientconfig.EncodeCA(ca)
	cfg.Description, cfg.Motd = proto.String("a test board"), proto.String("be nice")
	cfg.Export = clientconfig.DriverInstances{
		{Name: "power", Instance: clientconfig.DriverInstance{Type: "power", Config: map[string]any{
			"on": "echo on >> " + powerLog, "off": "echo off >> " + powerLog, "read": "echo 5 0.5",
		}}},
		{Name: "ssh", Instance: clientconfig.DriverInstance{Type: "jumpstarter_driver_network.driver.TcpNetwork", Config: map[string]any{
			"host": echoHost, "port": echoPort,
		}}},
		{Name: "console", Instance: clientconfig.DriverInstance{Type: "serial", Config: map[string]any{"url": tty, "baudrate": 9600}}},
		{Name: "sh", Instance: clientconfig.DriverInstance{Type: "shell", Config: map[string]any{
			"methods": map[string]any{
				"echo":  `echo "$@"`,
				"fail":  "echo out; echo err >&2; exit 3",
				"greet": map[string]any{"command": `echo "hello $1"`, "description": "Greets"},
			},
		}}},
		{Name: "lab", Instance: clientconfig.DriverInstance{Type: "jumpstarter_driver_shell.driver.Shell", Config: map[string]any{"allow_any": true}}},
		{Name: "board", Instance: clientconfig.DriverInstance{Children: clientconfig.DriverInstances{
			{Name: "relay", Instance: clientconfig.DriverInstance{Type: "power", Description: proto.String("the relay"), Config: map[string]any{"on": "true", "off": "true"}}},
		}}},
	}
	return cfg
}

func TestAgentServesALease(t *testing.T) {
	f := newFakeController()
	endpoint, ca := startController(t, f)
	dir := t.TempDir()
	powerLog := filepath.Join(dir, "power.log")
	ptm, ptsName := openPTY(t)
	echoHost, echoPort := echoServer(t)
	cfg := testConfig(t, endpoint, ca, powerLog, ptsName, echoHost, echoPort)

	type ticket struct{ endpoint, token string }
	dialed := make(chan ticket, 4)
	tunnels := make(chan net.Conn, 4)
	dial := func(_ context.Context, endpoint, token string) (net.Conn, error) {
		exporterEnd, clientEnd := tunnelPair(t)
		dialed <- ticket{endpoint, token}
		tunnels <- clientEnd
		return exporterEnd, nil
	}
	agent, err := exporter.New(cfg, dial, exporter.WithRetryPolicy(fastRetries()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- agent.Run(ctx) }()

	// Register: the name label and the driver tree.
	reg := recv(t, f.registered, "Register")
	if len(reg.GetLabels()) != 1 || reg.GetLabels()["jumpstarter.dev/name"] != testName {
		t.Errorf("Register labels %v, want only jumpstarter.dev/name=%s", reg.GetLabels(), testName)
	}
	checkReports(t, reg.GetReports())
	wantStatus(t, f, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "Exporter registered and available")

	// Leased: Listen on the lease, then LEASE_READY.
	f.leases <- &jumpstarterv1.StatusResponse{Leased: true, LeaseName: proto.String("l1"), ClientName: proto.String("alice")}
	if got := recv(t, f.listens, "Listen"); got != "l1" {
		t.Fatalf("Listen(%q), want l1", got)
	}
	wantStatus(t, f, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, "Ready for commands")

	// A ticket: the dialer gets its endpoint and token; the client talks to the session.
	f.tickets <- &jumpstarterv1.ListenResponse{RouterEndpoint: "router.example:8083", RouterToken: "stream-token"}
	if got := recv(t, dialed, "dial"); got != (ticket{"router.example:8083", "stream-token"}) {
		t.Fatalf("dialed %+v, want the ticket's endpoint and token", got)
	}
	client, err := driverclient.New(recv(t, tunnels, "tunnel"), driverclient.WithCycleWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	callCtx, cancelCalls := context.WithTimeout(ctx, 30*time.Second)
	defer cancelCalls()

	report, err := client.GetReport(callCtx)
	if err != nil {
		t.Fatal(err)
	}
	if report.GetMotd() != "be nice" || report.GetLabels()["jumpstarter.dev/name"] != testName || len(report.GetReports()) != len(reg.GetReports()) {
		t.Errorf("GetReport: motd %q, labels %v, %d reports; want the registered ones", report.GetMotd(), report.GetLabels(), len(report.GetReports()))
	}
	st, err := client.ExporterService().GetStatus(callCtx, &jumpstarterv1.GetStatusRequest{})
	if err != nil || st.GetStatus() != jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY {
		t.Errorf("GetStatus: %v, %v; want LEASE_READY", st, err)
	}

	t.Run("power", func(t *testing.T) { testPower(t, callCtx, client, powerLog) })
	t.Run("shell", func(t *testing.T) { testShell(t, callCtx, client) })
	t.Run("tcp", func(t *testing.T) { testTCP(t, callCtx, client) })
	t.Run("serial", func(t *testing.T) { testSerial(t, callCtx, client, ptm) })

	if err := client.EndSession(callCtx); err != nil {
		t.Errorf("EndSession: %v", err)
	}

	// The lease ends: AVAILABLE, Listen cancelled, the session's tunnel closed.
	f.leases <- &jumpstarterv1.StatusResponse{Leased: false}
	wantStatus(t, f, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "Available for new lease")
	if got := recv(t, f.listenEnded, "Listen to end"); got != "l1" {
		t.Errorf("Listen of %q ended, want l1", got)
	}
	deadline := time.Now().Add(waitFor)
	for {
		_, err := client.ExporterService().GetStatus(callCtx, &jumpstarterv1.GetStatusRequest{})
		if status.Code(err) == codes.Unavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetStatus after the lease ended: %v, want UNAVAILABLE (session closed)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// SIGTERM: OFFLINE, then Unregister.
	stop()
	wantStatus(t, f, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE, "Exporter shutting down")
	if got := recv(t, f.unregistered, "Unregister"); got.GetReason() != "Exporter shutdown" {
		t.Errorf("Unregister reason %q, want %q", got.GetReason(), "Exporter shutdown")
	}
	if err := recv(t, ran, "Run to return"); err != nil {
		t.Errorf("Run: %v, want nil after the context ended", err)
	}
	if bad := f.badCredential.Load(); bad != nil {
		t.Errorf("controller calls without the exporter's credentials: %s", bad)
	}
}

func checkReports(t *testing.T, reports []*jumpstarterv1.DriverInstanceReport) {
	t.Helper()
	if len(reports) != 8 {
		t.Fatalf("%d reports, want the root and 7 drivers", len(reports))
	}
	root := reports[0]
	if root.ParentUuid != nil || root.GetLabels()["jumpstarter.dev/client"] != "jumpstarter_driver_composite.client.CompositeClient" ||
		root.GetLabels()["jumpstarter.dev/name"] != "" || root.GetDescription() != "a test board" {
		t.Errorf("root report %v, want a composite without parent or name, with the config's description", root)
	}
	byName := map[string]*jumpstarterv1.DriverInstanceReport{}
	for _, r := range reports[1:] {
		byName[r.GetLabels()["jumpstarter.dev/name"]] = r
	}
	for _, tc := range []struct{ name, client, parent string }{
		{"power", "jumpstarter_driver_power.client.PowerClient", root.GetUuid()},
		{"ssh", "jumpstarter_driver_network.client.NetworkClient", root.GetUuid()},
		{"console", "jumpstarter_driver_pyserial.client.PySerialClient", root.GetUuid()},
		{"sh", "jumpstarter_driver_shell.client.ShellClient", root.GetUuid()},
		{"lab", "jumpstarter_driver_shell.client.ShellClient", root.GetUuid()},
		{"board", "jumpstarter_driver_composite.client.CompositeClient", root.GetUuid()},
		{"relay", "jumpstarter_driver_power.client.PowerClient", byName["board"].GetUuid()},
	} {
		r := byName[tc.name]
		if r == nil {
			t.Errorf("no report named %s", tc.name)
			continue
		}
		if r.GetLabels()["jumpstarter.dev/client"] != tc.client || r.GetParentUuid() != tc.parent || r.GetUuid() == "" {
			t.Errorf("report %s: %v, want client %s and parent %s", tc.name, r, tc.client, tc.parent)
		}
	}
	if got := byName["sh"].GetMethodsDescription()["greet"]; got != "Greets" {
		t.Errorf("sh methods_description[greet] = %q, want Greets", got)
	}
	if got := byName["relay"].GetDescription(); got != "the relay" {
		t.Errorf("relay description %q, want the config's", got)
	}
}

func testPower(t *testing.T, ctx context.Context, c *driverclient.Client, powerLog string) {
	for _, action := range []string{"on", "off", "cycle"} {
		if err := c.Power(ctx, "power", action); err != nil {
			t.Fatalf("power %s: %v", action, err)
		}
	}
	data, err := os.ReadFile(powerLog)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "on\noff\noff\non\n"; got != want {
		t.Errorf("power commands ran %q, want %q", got, want)
	}
	if err := c.Power(ctx, "", "on"); err == nil || !strings.Contains(err.Error(), "name one") {
		t.Errorf("power without a name with two power drivers: %v, want an error asking for a name", err)
	}
	if err := c.Power(ctx, "board.relay", "on"); err != nil {
		t.Errorf("power board.relay on: %v", err)
	}
	d, err := c.Find(ctx, "power", driverclient.PowerClient)
	if err != nil {
		t.Fatal(err)
	}
	var readings []any
	if err := c.StreamingCall(ctx, d.UUID, "read", nil, func(v any) error { readings = append(readings, v); return nil }); err != nil {
		t.Fatalf("read: %v", err)
	}
	if fmt.Sprint(readings) != "[map[current:0.5 voltage:5]]" {
		t.Errorf("read yielded %v, want one reading of 5 V, 0.5 A", readings)
	}
}

func testShell(t *testing.T, ctx context.Context, c *driverclient.Client) {
	for _, tc := range []struct {
		name       string
		driver     string
		args       []string
		stdout     string
		stderr     string
		code       int
		errCode    codes.Code
		errContent string
	}{
		{name: "method with args", driver: "sh", args: []string{"echo", "a b", "$(touch x)"}, stdout: "a b $(touch x)\n"},
		{name: "exit code and stderr", driver: "sh", args: []string{"fail"}, stdout: "out\n", stderr: "err\n", code: 3},
		{name: "described method", driver: "sh", args: []string{"greet", "world"}, stdout: "hello world\n"},
		{name: "not allowed", driver: "sh", args: []string{"rm", "-rf", "/"}, errCode: codes.InvalidArgument, errContent: `Method "rm" not found in available methods: [echo, fail, greet]`},
		{name: "allow_any runs a program", driver: "lab", args: []string{"printf", "%s-%s", "x", "y"}, stdout: "x-y"},
		{name: "allow_any exit code", driver: "lab", args: []string{"sh", "-c", "exit 7"}, code: 7},
		{name: "allow_any missing program", driver: "lab", args: []string{"no-such-program-xyz"}, code: 127, stderr: "no-such-program-xyz: command not found\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := c.Shell(ctx, tc.driver, tc.args, &stdout, &stderr)
			if tc.errCode != codes.OK {
				if status.Code(errors.Unwrap(err)) != tc.errCode || !strings.Contains(err.Error(), tc.errContent) {
					t.Fatalf("Shell: %v, want %s containing %q", err, tc.errCode, tc.errContent)
				}
				return
			}
			if err != nil {
				t.Fatalf("Shell: %v", err)
			}
			if code != tc.code || stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Errorf("Shell = %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// testTCP sends 1 MiB of random bytes through connect to the echo server and reads them back
// while sending, then half-closes and waits for the echo server's end.
func testTCP(t *testing.T, ctx context.Context, c *driverclient.Client) {
	conn, err := c.Connect(ctx, "ssh")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	sent := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		if err == nil {
			err = conn.(interface{ CloseWrite() error }).CloseWrite()
		}
		sent <- err
	}()
	back, err := io.ReadAll(conn) // ends when the echo server closes after our half-close
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(back) != len(payload) || sha256.Sum256(back) != sha256.Sum256(payload) {
		t.Fatalf("echoed %d bytes (sha256 %x), want %d (sha256 %x)", len(back), sha256.Sum256(back), len(payload), sha256.Sum256(payload))
	}
}

// testSerial moves 64 KiB each way between the client and the pty's master.
func testSerial(t *testing.T, ctx context.Context, c *driverclient.Client, ptm *os.File) {
	conn, err := c.Connect(ctx, "console")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := c.Connect(ctx, "console"); status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Errorf("a second connect to the console: %v, want UNAVAILABLE (in use)", err)
	}
	toDevice, fromDevice := make([]byte, 64<<10), make([]byte, 64<<10)
	_, _ = rand.Read(toDevice)
	_, _ = rand.Read(fromDevice)
	errc := make(chan error, 4)
	go func() { _, err := conn.Write(toDevice); errc <- err }()
	go func() { _, err := ptm.Write(fromDevice); errc <- err }()
	gotDevice, gotClient := make([]byte, len(toDevice)), make([]byte, len(fromDevice))
	go func() { _, err := io.ReadFull(ptm, gotDevice); errc <- err }()
	go func() { _, err := io.ReadFull(conn, gotClient); errc <- err }()
	for range 4 {
		if err := recv(t, errc, "serial transfer"); err != nil {
			t.Fatalf("serial transfer: %v", err)
		}
	}
	if !bytes.Equal(gotDevice, toDevice) || !bytes.Equal(gotClient, fromDevice) {
		t.Fatal("serial bytes differ")
	}
}

func TestAgentRetries(t *testing.T) {
	f := newFakeController()
	f.failStatus.Store(2)
	f.failReports.Store(2)
	agent := newTunnellessAgent(t, f)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- agent.Run(ctx) }()
	recv(t, f.registered, "Register")
	wantStatus(t, f, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "Exporter registered and available")
	// The Status stream is reopened after each failure and then stays open.
	f.leases <- &jumpstarterv1.StatusResponse{Leased: true, LeaseName: proto.String("l2")}
	recv(t, f.listens, "Listen")
	if n := f.statusCalls.Load(); n != 3 {
		t.Errorf("%d Status calls, want 3 (two failures, then the stream)", n)
	}
	wantStatus(t, f, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, "Ready for commands")
	stop()
	wantStatus(t, f, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE, "Exporter shutting down")
	recv(t, f.unregistered, "Unregister")
	if err := recv(t, ran, "Run"); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestAgentGivesUpOnTheStatusStream(t *testing.T) {
	f := newFakeController()
	f.failStatus.Store(100)
	agent := newTunnellessAgent(t, f)
	err := agent.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "status stream: giving up after 5 retries") {
		t.Errorf("Run: %v, want it to give up after 5 retries", err)
	}
	if n := f.statusCalls.Load(); n != 6 {
		t.Errorf("%d Status calls, want 6 (the first and 5 retries)", n)
	}
	recv(t, f.unregistered, "Unregister")
}

// TestAgentRegistersAgainAfterGivingUp: RunUntilDone keeps an exporter whose controller went
// away (Run gave up on the Status stream) coming back, instead of exiting.
func TestAgentRegistersAgainAfterGivingUp(t *testing.T) {
	f := newFakeController()
	f.failStatus.Store(8) // the first Run gives up after 6 failures; the second gets the stream
	agent := newTunnellessAgent(t, f)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- agent.RunUntilDone(ctx) }()
	recv(t, f.registered, "first Register")
	recv(t, f.registered, "Register after giving up")
	f.leases <- &jumpstarterv1.StatusResponse{Leased: true, LeaseName: proto.String("l3")}
	recv(t, f.listens, "Listen on the second connection")
	stop()
	if err := recv(t, ran, "RunUntilDone"); err != nil {
		t.Errorf("RunUntilDone: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	dial := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unused") }
	for _, tc := range []struct {
		name   string
		modify func(*clientconfig.ExporterConfig)
		want   string
	}{
		{"no endpoint", func(c *clientconfig.ExporterConfig) { c.Endpoint = "" }, "endpoint: required"},
		{"no token", func(c *clientconfig.ExporterConfig) { c.Token = "" }, "token: required"},
		{"bad CA", func(c *clientconfig.ExporterConfig) { c.TLS.CA = clientconfig.EncodeCA([]byte("not a cert")) }, "tls.ca: no PEM certificate"},
		{"unknown type", func(c *clientconfig.ExporterConfig) {
			c.Export = clientconfig.DriverInstances{{Name: "x", Instance: clientconfig.DriverInstance{Type: "nope"}}}
		}, `export.x: unknown driver type "nope"`},
		{"bad driver config", func(c *clientconfig.ExporterConfig) {
			c.Export = clientconfig.DriverInstances{{Name: "ssh", Instance: clientconfig.DriverInstance{Type: "tcp", Config: map[string]any{"host": "h", "port": 0}}}}
		}, "export.ssh: config.port: 0, want 1 to 65535"},
		{"nested error", func(c *clientconfig.ExporterConfig) {
			c.Export = clientconfig.DriverInstances{{Name: "b", Instance: clientconfig.DriverInstance{Children: clientconfig.DriverInstances{
				{Name: "sh", Instance: clientconfig.DriverInstance{Type: "shell", Config: map[string]any{"bogus": 1}}},
			}}}}
		}, "export.b.children.sh: config.bogus: unknown key"},
		{"proxy", func(c *clientconfig.ExporterConfig) {
			c.Export = clientconfig.DriverInstances{{Name: "p", Instance: clientconfig.DriverInstance{Ref: "x"}}}
		}, "export.p.ref: proxy instances are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := clientconfig.NewExporterConfig(testNamespace, testName)
			cfg.Endpoint, cfg.Token = "127.0.0.1:1", testToken
			tc.modify(cfg)
			_, err := exporter.New(cfg, dial)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
