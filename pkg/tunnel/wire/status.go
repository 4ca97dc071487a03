package wire

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Trailer keys that carry the reason of a router's abort. grpc-go ends a stream whose
// blocked RecvMsg or SendMsg is interrupted with its own CANCELLED status, before the handler
// can return the router's; trailers set beforehand still go out with it, so a dialer learns
// why its tunnel was cut.
const (
	TrailerReason  = "jumpstarter-tunnel-reason"  // Code.Reason()
	TrailerMessage = "jumpstarter-tunnel-message" // for people
)

// grpcCodes maps tunnel codes to the gRPC codes of the router's refusals.
var grpcCodes = [...]codes.Code{
	CodeOK:              codes.OK,
	CodeBadHeader:       codes.InvalidArgument,
	CodeUnauthenticated: codes.Unauthenticated,
	CodeLeaseEnded:      codes.FailedPrecondition,
	CodeDuplicate:       codes.AlreadyExists,
	CodeTimeout:         codes.DeadlineExceeded,
	CodeAborted:         codes.Aborted,
	CodeUnavailable:     codes.Unavailable,
}

// Status is the gRPC status a router ends a stream with for c: the matching gRPC code, msg,
// and a google.rpc.ErrorInfo whose reason names c, so that a peer tells a lease that ended
// from a bad token without parsing text.
func (c Code) Status(msg string) *status.Status {
	gc := codes.Unknown
	if int(c) < len(grpcCodes) {
		gc = grpcCodes[c]
	}
	st := status.New(gc, msg)
	if c == CodeOK {
		return st
	}
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: c.Reason(), Domain: ErrorDomain}); err == nil {
		return withInfo
	}
	return st
}

// Error is Status(msg).Err().
func (c Code) Error(msg string) error { return c.Status(msg).Err() }

// CodeOfStatus reads the tunnel code of a router's gRPC status: from its ErrorInfo if it has
// ours, else from the gRPC code where one code can only mean one thing (UNAUTHENTICATED, which
// the reference router also uses, and UNAVAILABLE). ok is false for anything else.
func CodeOfStatus(st *status.Status) (Code, bool) {
	for _, d := range st.Details() {
		if info, isInfo := d.(*errdetails.ErrorInfo); isInfo && info.GetDomain() == ErrorDomain {
			if c, known := CodeFromReason(info.GetReason()); known {
				return c, true
			}
		}
	}
	switch st.Code() {
	case codes.Unauthenticated:
		return CodeUnauthenticated, true
	case codes.Unavailable:
		return CodeUnavailable, true
	}
	return 0, false
}

// CodeError is an error that carries a tunnel code, for the router's QUIC side to close a
// connection with.
type CodeError struct {
	Code Code
	Msg  string
}

func (e *CodeError) Error() string { return e.Code.String() + ": " + e.Msg }
