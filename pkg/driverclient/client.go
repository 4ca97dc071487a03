package driverclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"jumpstarter.dev/service/pkg/drivers/framestream"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Client classes of the drivers this package has helpers for (the upstream class paths).
const (
	PowerClient     = "jumpstarter_driver_power.client.PowerClient"
	ShellClient     = "jumpstarter_driver_shell.client.ShellClient"
	NetworkClient   = "jumpstarter_driver_network.client.NetworkClient"
	PySerialClient  = "jumpstarter_driver_pyserial.client.PySerialClient"
	CompositeClient = "jumpstarter_driver_composite.client.CompositeClient"
)

// Labels of a driver instance report.
const (
	labelClient = "jumpstarter.dev/client"
	labelName   = "jumpstarter.dev/name"
)

// DefaultCycleWait is the wait between off and on of a power cycle (upstream's default).
const DefaultCycleWait = 2 * time.Second

// Client is a connection to one exporter session.
type Client struct {
	cc       *grpc.ClientConn
	exporter jumpstarterv1.ExporterServiceClient
	router   jumpstarterv1.RouterServiceClient

	cycleWait time.Duration

	mu     sync.Mutex
	report *jumpstarterv1.GetReportResponse
}

// Option changes a Client.
type Option func(*Client)

// WithCycleWait sets the wait between off and on of Power(..., "cycle").
func WithCycleWait(d time.Duration) Option {
	return func(c *Client) { c.cycleWait = d }
}

// New runs a gRPC client on conn, the tunnel to an exporter session; the Client owns conn
// and Close closes it. There is no reconnecting: when conn breaks, calls fail with
// UNAVAILABLE and the caller dials a new tunnel.
func New(conn net.Conn, opts ...Option) (*Client, error) {
	var once sync.Once
	dial := func(context.Context, string) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c = conn })
		if c == nil {
			return nil, errors.New("the tunnel to the exporter is closed")
		}
		return c, nil
	}
	// passthrough: the target is a name for the tunnel, not something to resolve.
	cc, err := grpc.NewClient("passthrough:///exporter",
		grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("exporter session: %w", err)
	}
	c := &Client{
		cc:        cc,
		exporter:  jumpstarterv1.NewExporterServiceClient(cc),
		router:    jumpstarterv1.NewRouterServiceClient(cc),
		cycleWait: DefaultCycleWait,
	}
	for _, opt := range opts {
		opt(c)
	}
	cc.Connect()
	return c, nil
}

// Close ends the session's connection and every call and stream on it.
func (c *Client) Close() error { return c.cc.Close() }

// ExporterService is the raw ExporterService client, for calls this package has no helper
// for (GetStatus, LogStream).
func (c *Client) ExporterService() jumpstarterv1.ExporterServiceClient { return c.exporter }

// GetReport is the exporter's report; the first one is kept, as it does not change during a
// session.
func (c *Client) GetReport(ctx context.Context) (*jumpstarterv1.GetReportResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.report != nil {
		return c.report, nil
	}
	r, err := c.exporter.GetReport(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("get report: %w", err)
	}
	c.report = r
	return r, nil
}

// Driver is one driver instance of the report.
type Driver struct {
	UUID string
	// Name is the instance's jumpstarter.dev/name; Path joins the names from the root with dots.
	Name, Path string
	// Client is the instance's client class (jumpstarter.dev/client).
	Client string
	// Report is the instance's report as the exporter sent it.
	Report *jumpstarterv1.DriverInstanceReport
}

// Drivers are the report's instances below the root, in report order.
func (c *Client) Drivers(ctx context.Context) ([]Driver, error) {
	r, err := c.GetReport(ctx)
	if err != nil {
		return nil, err
	}
	// Reports come parent first, so a parent's path is known before its children's.
	paths := map[string]string{}
	var out []Driver
	for _, rep := range r.GetReports() {
		if rep.ParentUuid == nil {
			paths[rep.GetUuid()] = ""
			continue
		}
		name := rep.GetLabels()[labelName]
		path := name
		if parent := paths[rep.GetParentUuid()]; parent != "" {
			path = parent + "." + name
		}
		paths[rep.GetUuid()] = path
		out = append(out, Driver{UUID: rep.GetUuid(), Name: name, Path: path, Client: rep.GetLabels()[labelClient], Report: rep})
	}
	return out, nil
}

// Find is the driver called name (its dotted path, or its name when that is unique) that has
// client class client; an empty name means the only instance of that class, an empty client
// any class. The error lists what there is.
func (c *Client) Find(ctx context.Context, name, client string) (Driver, error) {
	all, err := c.Drivers(ctx)
	if err != nil {
		return Driver{}, err
	}
	var byPath, byName, byClient []Driver
	for _, d := range all {
		if client != "" && d.Client != client {
			continue
		}
		byClient = append(byClient, d)
		if name != "" && d.Path == name {
			byPath = append(byPath, d)
		}
		if name != "" && d.Name == name {
			byName = append(byName, d)
		}
	}
	switch {
	case name == "" && len(byClient) == 1:
		return byClient[0], nil
	case name == "" && len(byClient) == 0:
		return Driver{}, fmt.Errorf("the exporter has no %s driver (drivers: %s)", client, describe(all))
	case name == "":
		return Driver{}, fmt.Errorf("the exporter has %d %s drivers, name one: %s", len(byClient), client, describe(byClient))
	case len(byPath) == 1:
		return byPath[0], nil
	case len(byName) == 1:
		return byName[0], nil
	case len(byName) > 1:
		return Driver{}, fmt.Errorf("driver name %q is ambiguous, use its path: %s", name, describe(byName))
	case client != "":
		return Driver{}, fmt.Errorf("the exporter has no %s driver called %q (drivers: %s)", client, name, describe(all))
	default:
		return Driver{}, fmt.Errorf("the exporter has no driver called %q (drivers: %s)", name, describe(all))
	}
}

func describe(ds []Driver) string {
	if len(ds) == 0 {
		return "none"
	}
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%s (%s)", d.Path, d.Client))
	}
	return strings.Join(s, ", ")
}

// Call runs a unary driver method and returns its result.
func (c *Client) Call(ctx context.Context, uuid, method string, args ...any) (any, error) {
	values, err := encodeArgs(args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	resp, err := c.exporter.DriverCall(ctx, &jumpstarterv1.DriverCallRequest{Uuid: uuid, Method: method, Args: values})
	if err != nil {
		return nil, err
	}
	return resp.GetResult().AsInterface(), nil
}

// StreamingCall runs a generator driver method and hands each item to yield; an error of
// yield ends the call and is returned.
func (c *Client) StreamingCall(ctx context.Context, uuid, method string, args []any, yield func(any) error) error {
	values, err := encodeArgs(args)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.exporter.StreamingDriverCall(ctx, &jumpstarterv1.StreamingDriverCallRequest{Uuid: uuid, Method: method, Args: values})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := yield(resp.GetResult().AsInterface()); err != nil {
			return err
		}
	}
}

func encodeArgs(args []any) ([]*structpb.Value, error) {
	out := make([]*structpb.Value, len(args))
	for i, a := range args {
		v, err := structpb.NewValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		out[i] = v
	}
	return out, nil
}

// Power actions.
const (
	PowerOn    = "on"
	PowerOff   = "off"
	PowerCycle = "cycle"
)

// Power switches the PowerClient driver called name (empty: the only one): on, off, or cycle
// (off, the cycle wait, on).
func (c *Client) Power(ctx context.Context, name, action string) error {
	d, err := c.Find(ctx, name, PowerClient)
	if err != nil {
		return err
	}
	switch action {
	case PowerOn, PowerOff:
		_, err = c.Call(ctx, d.UUID, action)
	case PowerCycle:
		if _, err = c.Call(ctx, d.UUID, PowerOff); err != nil {
			break
		}
		select {
		case <-time.After(c.cycleWait):
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err = c.Call(ctx, d.UUID, PowerOn)
	default:
		return fmt.Errorf("power %s: want %s, %s or %s", action, PowerOn, PowerOff, PowerCycle)
	}
	if err != nil {
		return fmt.Errorf("power %s %s: %w", d.Path, action, err)
	}
	return nil
}

// Shell runs args[0] with the arguments args[1:] through the ShellClient driver called name
// (empty: the only one), copying what it prints to stdout and stderr as it arrives, and
// returns its exit code. args[0] is a method of the driver's config, or any command when the
// exporter allows any. The error is about the call, never about the command's own failure.
func (c *Client) Shell(ctx context.Context, name string, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		return 0, errors.New("shell: no command")
	}
	d, err := c.Find(ctx, name, ShellClient)
	if err != nil {
		return 0, err
	}
	callArgs := []any{args[0], map[string]any{}}
	for _, a := range args[1:] {
		callArgs = append(callArgs, a)
	}
	code := -1
	err = c.StreamingCall(ctx, d.UUID, "call_method", callArgs, func(item any) error {
		out, errText, exit, err := shellChunk(item)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(stdout, out); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
		if _, err := io.WriteString(stderr, errText); err != nil {
			return fmt.Errorf("write stderr: %w", err)
		}
		if exit != nil {
			code = *exit
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("shell %s %s: %w", d.Path, args[0], err)
	}
	if code < 0 {
		return 0, fmt.Errorf("shell %s %s: the exporter sent no exit code", d.Path, args[0])
	}
	return code, nil
}

// shellChunk decodes one [stdout, stderr, exit code or null] item of call_method.
func shellChunk(item any) (stdout, stderr string, code *int, err error) {
	list, ok := item.([]any)
	if !ok || len(list) != 3 {
		return "", "", nil, fmt.Errorf("unexpected shell output item %v, want [stdout, stderr, exit code]", item)
	}
	stdout, _ = list[0].(string)
	stderr, _ = list[1].(string)
	if n, ok := list[2].(float64); ok {
		c := int(n)
		code = &c
	}
	return stdout, stderr, code, nil
}

// Connect opens the byte stream `connect` of the driver called name (empty: the only
// NetworkClient or PySerialClient driver). ctx bounds the opening only; the stream lasts
// until the conn is closed or the session ends.
func (c *Client) Connect(ctx context.Context, name string) (net.Conn, error) {
	d, err := c.findStreamDriver(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.OpenStream(ctx, d.UUID, "connect")
}

func (c *Client) findStreamDriver(ctx context.Context, name string) (Driver, error) {
	if name != "" {
		return c.Find(ctx, name, "")
	}
	all, err := c.Drivers(ctx)
	if err != nil {
		return Driver{}, err
	}
	streams := slices.DeleteFunc(all, func(d Driver) bool { return d.Client != NetworkClient && d.Client != PySerialClient })
	if len(streams) != 1 {
		return Driver{}, fmt.Errorf("name the driver to connect to: the exporter has %d network or serial drivers (%s)", len(streams), describe(streams))
	}
	return streams[0], nil
}

// OpenStream opens the byte stream method of driver uuid.
func (c *Client) OpenStream(ctx context.Context, uuid, method string) (net.Conn, error) {
	req, err := json.Marshal(framestream.Request{Kind: framestream.KindDriver, UUID: uuid, Method: method})
	if err != nil {
		return nil, err
	}
	streamCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopOpen := context.AfterFunc(ctx, cancel)
	defer stopOpen()
	streamCtx = metadata.AppendToOutgoingContext(streamCtx, framestream.MetadataRequest, string(req))
	stream, err := c.router.Stream(streamCtx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	// The exporter sends its headers once the driver's stream is open; an error before that
	// ends the call without headers, with the status that says why.
	if md, err := stream.Header(); err != nil || md == nil {
		if err == nil {
			_, err = stream.Recv()
		}
		cancel()
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("the exporter ended the stream before opening it")
		}
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return framestream.NewClientConn(stream, cancel), nil
}

// EndSession tells the exporter that the client is done with the lease.
func (c *Client) EndSession(ctx context.Context) error {
	resp, err := c.exporter.EndSession(ctx, &jumpstarterv1.EndSessionRequest{})
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if !resp.GetSuccess() {
		return fmt.Errorf("end session: refused: %s", resp.GetMessage())
	}
	return nil
}
