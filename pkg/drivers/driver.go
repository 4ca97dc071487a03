package drivers

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Labels every driver instance report carries (upstream Driver.report).
const (
	// LabelClient is the class path of the Python client that drives the instance.
	LabelClient = "jumpstarter.dev/client"
	// LabelName is the instance's name in its parent (absent on the root).
	LabelName = "jumpstarter.dev/name"
)

// Driver is one configured driver instance. Client is all it must have; what it can do is
// said by the optional interfaces below.
type Driver interface {
	// Client is the class path of the client an upstream Python client instantiates for this
	// driver, reported as label jumpstarter.dev/client.
	Client() string
}

// Caller has unary methods (ExporterService/DriverCall).
type Caller interface {
	// Call runs method with positional args and returns its result. An unknown method is
	// MethodNotFound(method).
	Call(ctx context.Context, method string, args []any) (any, error)
}

// StreamingCaller has generator methods (ExporterService/StreamingDriverCall).
type StreamingCaller interface {
	// StreamingCall runs method and passes each item it produces to yield, stopping at the
	// first error yield returns.
	StreamingCall(ctx context.Context, method string, args []any, yield func(any) error) error
}

// Streamer has byte-stream methods (RouterService/Stream inside the tunnel), such as connect.
type Streamer interface {
	// OpenStream opens the stream of method; ctx is the stream's RPC and ends with it. The
	// caller closes the returned Conn.
	OpenStream(ctx context.Context, method string) (Conn, error)
}

// Conn is a driver's byte stream. CloseWrite is the half-close a GOAWAY frame asks for; a
// stream that cannot half-close (a serial port) makes it a no-op.
type Conn interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// MethodsDescriber adds help texts to the instance's report (methods_description), next to
// those the config's methods_description sets.
type MethodsDescriber interface {
	MethodsDescription() map[string]string
}

// MethodNotFound is the error for a method the driver does not have, with the text and code
// of the upstream exporter.
func MethodNotFound(method string) error {
	return status.Errorf(codes.NotFound, "method %s not found on driver", method)
}

// InvalidArgument is an error the Python client raises as DriverInvalidArgument.
func InvalidArgument(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// Unimplemented is an error the Python client raises as DriverMethodNotImplemented.
func Unimplemented(format string, args ...any) error {
	return status.Errorf(codes.Unimplemented, format, args...)
}

// NoArgs checks that method got no arguments.
func NoArgs(method string, args []any) error {
	if len(args) != 0 {
		return InvalidArgument("%s: takes no arguments, got %d", method, len(args))
	}
	return nil
}

// StringArg is args[i], which must be a string; name is the parameter's name for the error.
func StringArg(method string, args []any, i int, name string) (string, error) {
	if i >= len(args) {
		return "", InvalidArgument("%s: missing argument %d (%s)", method, i+1, name)
	}
	s, ok := args[i].(string)
	if !ok {
		return "", InvalidArgument("%s: argument %d (%s): want a string, got %s", method, i+1, name, kindOf(args[i]))
	}
	return s, nil
}

// kindOf names the JSON kind of a decoded google.protobuf.Value.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// Composite groups children and has no methods of its own: the root of every exporter's tree
// and any `export:` entry with children but no type.
type Composite struct{}

// CompositeClient is the client class of a Composite.
const CompositeClient = "jumpstarter_driver_composite.client.CompositeClient"

// Client implements Driver.
func (Composite) Client() string { return CompositeClient }

// NewComposite is the Factory of Composite; it takes no config.
func NewComposite(config map[string]any) (Driver, error) {
	if err := DecodeConfig(config, &struct{}{}); err != nil {
		return nil, err
	}
	return Composite{}, nil
}
