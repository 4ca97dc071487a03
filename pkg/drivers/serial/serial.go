package serial

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/drivers"
)

// Type names and client class of the driver.
const (
	TypeName     = "serial"
	UpstreamType = "jumpstarter_driver_pyserial.driver.PySerial"
	Client       = "jumpstarter_driver_pyserial.client.PySerialClient"
)

// MethodConnect is the stream method.
const MethodConnect = "connect"

const defaultBaudrate = 115200

// speeds are the termios speeds a baudrate maps to.
var speeds = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600, 19200: unix.B19200,
	38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200, 230400: unix.B230400,
	460800: unix.B460800, 500000: unix.B500000, 576000: unix.B576000, 921600: unix.B921600,
	1000000: unix.B1000000, 1500000: unix.B1500000, 2000000: unix.B2000000, 3000000: unix.B3000000,
	4000000: unix.B4000000,
}

// Config is the driver's `config:`.
type Config struct {
	URL          string `json:"url"`
	Path         string `json:"path"`
	Baudrate     *int   `json:"baudrate"`
	CheckPresent *bool  `json:"check_present"`
}

// Driver is a configured serial driver.
type Driver struct {
	path  string
	speed uint32

	mu   sync.Mutex
	busy bool
}

var _ drivers.Streamer = (*Driver)(nil)

// New is the driver's Factory.
func New(config map[string]any) (drivers.Driver, error) {
	var c Config
	if err := drivers.DecodeConfig(config, &c); err != nil {
		return nil, err
	}
	path, err := devicePath(c)
	if err != nil {
		return nil, err
	}
	baud := defaultBaudrate
	if c.Baudrate != nil {
		baud = *c.Baudrate
	}
	speed, ok := speeds[baud]
	if !ok {
		return nil, fmt.Errorf("config.baudrate: %d is not a supported speed (%s)", baud, supportedSpeeds())
	}
	if c.CheckPresent == nil || *c.CheckPresent {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("config.url: device not present (set check_present: false to start without it): %w", err)
		}
	}
	return &Driver{path: path, speed: speed}, nil
}

func devicePath(c Config) (string, error) {
	switch {
	case c.URL != "" && c.Path != "":
		return "", errors.New("config.url, config.path: set one of them")
	case c.URL == "" && c.Path == "":
		return "", errors.New("config.url: required, the device path (e.g. /dev/ttyUSB0)")
	}
	path := c.URL + c.Path
	if strings.Contains(path, "://") {
		return "", fmt.Errorf("config.url: %q: only device paths are supported, not pyserial URLs", path)
	}
	return path, nil
}

func supportedSpeeds() string {
	var s []string
	for _, b := range slices.Sorted(maps.Keys(speeds)) {
		s = append(s, fmt.Sprint(b))
	}
	return strings.Join(s, ", ")
}

// Client implements drivers.Driver.
func (d *Driver) Client() string { return Client }

// OpenStream implements drivers.Streamer.
func (d *Driver) OpenStream(ctx context.Context, method string) (drivers.Conn, error) {
	if method != MethodConnect {
		return nil, drivers.MethodNotFound(method)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busy {
		return nil, status.Errorf(codes.Unavailable, "serial port %s is in use by another stream", d.path)
	}
	// O_NONBLOCK: open does not wait for a modem's carrier, and Go polls the descriptor, so
	// Close ends a pending Read.
	f, err := os.OpenFile(d.path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "open serial port: %v", err)
	}
	if err := makeRaw(f, d.speed); err != nil {
		_ = f.Close()
		return nil, status.Errorf(codes.Unavailable, "configure serial port %s: %v", d.path, err)
	}
	d.busy = true
	klog.FromContext(ctx).V(1).Info("Serial port opened", "path", d.path)
	return &port{File: f, release: d.release}, nil
}

func (d *Driver) release() {
	d.mu.Lock()
	d.busy = false
	d.mu.Unlock()
}

// makeRaw sets f raw, 8N1, at speed (cfmakeraw plus CLOCAL, CREAD).
func makeRaw(f *os.File, speed uint32) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = raw.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			opErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD
		t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | speed
		t.Ispeed, t.Ospeed = speed, speed
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		opErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err != nil {
		return err
	}
	return opErr
}

// port is an open serial port as a drivers.Conn.
type port struct {
	*os.File
	once    sync.Once
	release func()
}

// CloseWrite is a no-op: a serial line has no half-close.
func (p *port) CloseWrite() error { return nil }

// Close closes the device and frees the driver for the next stream.
func (p *port) Close() error {
	err := p.File.Close()
	p.once.Do(p.release)
	return err
}
