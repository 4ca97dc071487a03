package jmpclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// KindClient is the jumpstarter-kind a client sends (wire contract §3.2).
const KindClient = "Client"

// Keepalive defaults of the Python tools (wire contract §3.1), which grpcOptions override.
const (
	DefaultKeepaliveTime    = 20 * time.Second
	DefaultKeepaliveTimeout = 180 * time.Second
	DefaultLBPolicy         = "round_robin"
)

// grpcOptions keys this client understands; other keys are for the Python tools' gRPC core
// and are ignored.
const (
	optKeepaliveTime      = "grpc.keepalive_time_ms"
	optKeepaliveTimeout   = "grpc.keepalive_timeout_ms"
	optPermitWithoutCalls = "grpc.keepalive_permit_without_calls"
	optLBPolicy           = "grpc.lb_policy_name"
)

// Client calls the controller as one client: ClientService for leases and exporters,
// ControllerService for Dial. Its methods take bare lease ids or full resource names.
type Client struct {
	Leases     clientv1.ClientServiceClient
	Controller jumpstarterv1.ControllerServiceClient
	// Namespace and Name are the client's, as in its config.
	Namespace, Name string
	// Timing are the waits; zero fields take the defaults.
	Timing Timing

	conn *grpc.ClientConn
}

// New is a Client over conn, whose calls must already carry the client's credentials.
func New(conn grpc.ClientConnInterface, namespace, name string) *Client {
	return &Client{
		Leases:     clientv1.NewClientServiceClient(conn),
		Controller: jumpstarterv1.NewControllerServiceClient(conn),
		Namespace:  namespace,
		Name:       name,
	}
}

// Connect opens a connection to the controller of cfg: TLS with the config's trust, the
// keepalive of §3.1, and the four metadata entries of §3.2 on every call. It does not wait
// for the connection: the first call does.
func Connect(cfg *Config) (*Client, error) {
	tlsConfig, err := TLSConfig(cfg.TLS, cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("client config %s: %w", cfg.Path, err)
	}
	opts, err := DialOptions(tlsConfig, cfg.GRPCOptions)
	if err != nil {
		return nil, fmt.Errorf("client config %s: %w", cfg.Path, err)
	}
	opts = append(opts, grpc.WithPerRPCCredentials(Credentials{Token: cfg.Token, Namespace: cfg.Metadata.Namespace, Name: cfg.Metadata.Name}))
	conn, err := grpc.NewClient(cfg.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Endpoint, err)
	}
	c := New(conn, cfg.Metadata.Namespace, cfg.Metadata.Name)
	c.conn = conn
	return c, nil
}

// Close closes the connection Connect opened.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// DialOptions are the transport options of a controller connection: TLS and the keepalive
// and load-balancing settings of §3.1, with the grpcOptions overrides applied.
func DialOptions(tlsConfig *tls.Config, grpcOptions map[string]any) ([]grpc.DialOption, error) {
	kp := keepalive.ClientParameters{Time: DefaultKeepaliveTime, Timeout: DefaultKeepaliveTimeout, PermitWithoutStream: true}
	lb := DefaultLBPolicy
	for key, value := range grpcOptions {
		var err error
		switch key {
		case optKeepaliveTime:
			kp.Time, err = millis(value)
		case optKeepaliveTimeout:
			kp.Timeout, err = millis(value)
		case optPermitWithoutCalls:
			var n int64
			n, err = integer(value)
			kp.PermitWithoutStream = n != 0
		case optLBPolicy:
			s, ok := value.(string)
			if !ok || s == "" {
				err = fmt.Errorf("want a policy name, got %v", value)
			}
			lb = s
		}
		if err != nil {
			return nil, fmt.Errorf("grpcOptions.%s: %w", key, err)
		}
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)),
		grpc.WithKeepaliveParams(kp),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, lb)),
	}, nil
}

func millis(v any) (time.Duration, error) {
	n, err := integer(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive number of milliseconds, got %v", v)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// integer reads a grpcOptions value, an integer or a string holding one.
func integer(v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case int64:
		return n, nil
	case string:
		return strconv.ParseInt(n, 10, 64)
	}
	return 0, fmt.Errorf("want an integer, got %T", v)
}

// Credentials are the metadata of every controller call a client makes (wire contract §3.2).
type Credentials struct {
	Token, Namespace, Name string
}

var _ credentials.PerRPCCredentials = Credentials{}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c Credentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{
		"authorization":         "Bearer " + c.Token,
		"jumpstarter-kind":      KindClient,
		"jumpstarter-namespace": c.Namespace,
		"jumpstarter-name":      c.Name,
	}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: a bearer token travels
// over TLS only.
func (Credentials) RequireTransportSecurity() bool { return true }
