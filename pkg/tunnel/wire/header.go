package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ALPN is the TLS application protocol of tunnels over QUIC; it names the header version.
const ALPN = "jumpstarter-tunnel/1"

// Version is the header version this package speaks.
const Version byte = 1

// MaxTokenLen bounds the token in a header, so that a stray client cannot make the router
// read much before it is authenticated. Router tokens are well under 1 KiB.
const MaxTokenLen = 8 << 10

// maxMessageLen bounds the message of a refusal.
const maxMessageLen = 1 << 10

// magic opens every header: a stray QUIC client of another protocol fails at once.
var magic = [2]byte{'J', 'T'}

// ErrBadHeader is returned for a header that is not ours, of another version, or cut short.
var ErrBadHeader = errors.New("bad tunnel header")

// Code is a tunnel status: the answer to a header, and the QUIC application error code a
// tunnel ends with. The router's gRPC refusals carry the same names as google.rpc.ErrorInfo
// reasons (Reason).
type Code uint8

const (
	// CodeOK: accepted (the stream now carries tunnel bytes), or a tunnel that ended cleanly.
	CodeOK Code = 0
	// CodeBadHeader: the header was malformed, of another version, or not sent in time.
	CodeBadHeader Code = 1
	// CodeUnauthenticated: the token is not a valid router token (signature, issuer,
	// audience, expiry).
	CodeUnauthenticated Code = 2
	// CodeLeaseEnded: the token's lease has ended or no longer exists, at open or later.
	CodeLeaseEnded Code = 3
	// CodeDuplicate: two peers already used this token's stream id.
	CodeDuplicate Code = 4
	// CodeTimeout: no peer presented the same stream id in time.
	CodeTimeout Code = 5
	// CodeAborted: the other peer aborted the tunnel (reset, RST_STREAM, malformed frames).
	CodeAborted Code = 6
	// CodeUnavailable: the router is shutting down.
	CodeUnavailable Code = 7
)

var codeNames = [...]string{
	CodeOK:              "ok",
	CodeBadHeader:       "bad_header",
	CodeUnauthenticated: "unauthenticated",
	CodeLeaseEnded:      "lease_ended",
	CodeDuplicate:       "duplicate",
	CodeTimeout:         "timeout",
	CodeAborted:         "aborted",
	CodeUnavailable:     "unavailable",
}

// String is the code's name, as used in metric labels.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code_%d", uint8(c))
}

// Reason is the google.rpc.ErrorInfo reason the router's gRPC refusals carry for c.
func (c Code) Reason() string {
	if int(c) < len(codeNames) {
		return "TUNNEL_" + upper(codeNames[c])
	}
	return fmt.Sprintf("TUNNEL_CODE_%d", uint8(c))
}

// CodeFromReason is the inverse of Reason; ok is false for a reason that is not ours.
func CodeFromReason(reason string) (Code, bool) {
	for c := range codeNames {
		if Code(c).Reason() == reason {
			return Code(c), true
		}
	}
	return 0, false
}

// ErrorDomain is the google.rpc.ErrorInfo domain of the router's refusals.
const ErrorDomain = "router.jumpstarter.dev"

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// AppendHeader appends the header that opens a tunnel with token.
func AppendHeader(dst []byte, token string) ([]byte, error) {
	if token == "" || len(token) > MaxTokenLen {
		return nil, fmt.Errorf("tunnel token is %d bytes, want 1 to %d", len(token), MaxTokenLen)
	}
	dst = append(dst, magic[0], magic[1], Version)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(token)))
	return append(dst, token...), nil
}

// ReadHeader reads a header and returns its token. Errors wrap ErrBadHeader, or are the
// reader's.
func ReadHeader(r io.Reader) (string, error) {
	var fixed [5]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadHeader, err)
	}
	if fixed[0] != magic[0] || fixed[1] != magic[1] {
		return "", fmt.Errorf("%w: magic %q, want %q", ErrBadHeader, fixed[:2], magic[:])
	}
	if fixed[2] != Version {
		return "", fmt.Errorf("%w: version %d, this router speaks %d", ErrBadHeader, fixed[2], Version)
	}
	n := int(binary.BigEndian.Uint16(fixed[3:]))
	if n == 0 || n > MaxTokenLen {
		return "", fmt.Errorf("%w: token length %d, want 1 to %d", ErrBadHeader, n, MaxTokenLen)
	}
	token := make([]byte, n)
	if _, err := io.ReadFull(r, token); err != nil {
		return "", fmt.Errorf("%w: token: %v", ErrBadHeader, err)
	}
	return string(token), nil
}

// AppendStatus appends the router's answer to a header: the code, and for a refusal the
// message that says why.
func AppendStatus(dst []byte, code Code, msg string) []byte {
	dst = append(dst, byte(code))
	if code == CodeOK {
		return dst
	}
	if len(msg) > maxMessageLen {
		msg = msg[:maxMessageLen]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(msg)))
	return append(dst, msg...)
}

// ReadStatus reads the router's answer to a header.
func ReadStatus(r io.Reader) (Code, string, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, "", err
	}
	code := Code(b[0])
	if code == CodeOK {
		return code, "", nil
	}
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return code, "", nil // the code says enough; the message is a courtesy
	}
	msg := make([]byte, min(int(binary.BigEndian.Uint16(l[:])), maxMessageLen))
	n, _ := io.ReadFull(r, msg)
	return code, string(msg[:n]), nil
}
