package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/drivers"
)

// Type names and client class of the driver.
const (
	TypeName     = "tcp"
	UpstreamType = "jumpstarter_driver_network.driver.TcpNetwork"
	Client       = "jumpstarter_driver_network.client.NetworkClient"
)

// MethodConnect is the stream method.
const MethodConnect = "connect"

// connectTimeout bounds the TCP handshake.
const connectTimeout = 10 * time.Second

// Config is the driver's `config:`.
type Config struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// Driver is a configured tcp driver.
type Driver struct {
	addr string
}

var _ drivers.Streamer = (*Driver)(nil)

// New is the driver's Factory.
func New(config map[string]any) (drivers.Driver, error) {
	var c Config
	if err := drivers.DecodeConfig(config, &c); err != nil {
		return nil, err
	}
	if c.Host == "" {
		return nil, errors.New("config.host: required")
	}
	if c.Port < 1 || c.Port > 65535 {
		return nil, fmt.Errorf("config.port: %d, want 1 to 65535", c.Port)
	}
	return &Driver{addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}, nil
}

// Client implements drivers.Driver.
func (d *Driver) Client() string { return Client }

// OpenStream implements drivers.Streamer.
func (d *Driver) OpenStream(ctx context.Context, method string) (drivers.Conn, error) {
	if method != MethodConnect {
		return nil, drivers.MethodNotFound(method)
	}
	dialer := net.Dialer{Timeout: connectTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "connect: %v", err)
	}
	klog.FromContext(ctx).V(1).Info("TCP connected", "address", d.addr)
	return conn.(*net.TCPConn), nil
}
