package tunnel

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// Errors of Dial and of Conn operations, matched with errors.Is. The wrapping error adds the
// router's message.
var (
	// ErrUnreachable: the router did not answer, TLS failed, or it is shutting down.
	ErrUnreachable = errors.New("router unreachable")
	// ErrUnauthenticated: the router refused the token (signature, issuer, audience, expiry).
	ErrUnauthenticated = errors.New("router refused the token")
	// ErrLeaseEnded: the token's lease has ended, before or during the tunnel.
	ErrLeaseEnded = errors.New("lease has ended")
	// ErrDuplicate: two peers already used the token.
	ErrDuplicate = errors.New("router token already used by two peers")
	// ErrPeerTimeout: the other end of the tunnel never came.
	ErrPeerTimeout = errors.New("the other end of the tunnel did not come")
	// ErrAborted: the other end or the router aborted the tunnel.
	ErrAborted = errors.New("tunnel aborted")
	// ErrProtocol: the router did not understand us, or we it.
	ErrProtocol = errors.New("tunnel protocol error")
)

// codeSentinels maps tunnel codes to the errors above.
var codeSentinels = map[wire.Code]error{
	wire.CodeBadHeader:       ErrProtocol,
	wire.CodeUnauthenticated: ErrUnauthenticated,
	wire.CodeLeaseEnded:      ErrLeaseEnded,
	wire.CodeDuplicate:       ErrDuplicate,
	wire.CodeTimeout:         ErrPeerTimeout,
	wire.CodeAborted:         ErrAborted,
	wire.CodeUnavailable:     ErrUnreachable,
}

// codeError is the error of a router's refusal or of a tunnel's end.
func codeError(code wire.Code, msg string) error {
	sentinel, ok := codeSentinels[code]
	if !ok {
		sentinel = ErrAborted
	}
	if msg == "" {
		return fmt.Errorf("%w (%s)", sentinel, code)
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}

// statusError maps the gRPC error of a router stream.
func statusError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%w: %v", ErrAborted, err)
	}
	if code, known := wire.CodeOfStatus(st); known {
		return codeError(code, st.Message())
	}
	if st.Code() == codes.Canceled {
		return fmt.Errorf("%w: %s", ErrAborted, st.Message())
	}
	return fmt.Errorf("%w: %s: %s", ErrAborted, st.Code(), st.Message())
}
