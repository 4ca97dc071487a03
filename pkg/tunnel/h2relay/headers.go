package h2relay

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Metadata is a request's header fields, pseudo-headers excluded, names in lower case.
type Metadata []hpack.HeaderField

// Get returns the values of a header field.
func (md Metadata) Get(name string) []string {
	var vs []string
	for _, f := range md {
		if f.Name == name {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// responseHeaders open every response.
var responseHeaders = []hpack.HeaderField{
	{Name: ":status", Value: "200"},
	{Name: "content-type", Value: "application/grpc"},
}

// isGRPCContentType accepts application/grpc, application/grpc+<codec> and
// application/grpc;<params>, as grpc-go does.
func isGRPCContentType(ct string) bool {
	const base = "application/grpc"
	ct = strings.ToLower(ct)
	if !strings.HasPrefix(ct, base) {
		return false
	}
	return len(ct) == len(base) || ct[len(base)] == '+' || ct[len(base)] == ';'
}

// connectionSpecific are header fields RFC 9113 §8.2.2 forbids in HTTP/2.
var connectionSpecific = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "upgrade": true,
}

// parseTimeout reads grpc-timeout: at most 8 digits and a unit.
func parseTimeout(v string) (time.Duration, error) {
	if len(v) < 2 || len(v) > 9 {
		return 0, fmt.Errorf("malformed grpc-timeout %q", v)
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("malformed grpc-timeout %q", v)
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("malformed grpc-timeout %q", v)
	}
	const maxHours = int64(1<<63-1) / int64(time.Hour)
	if unit == time.Hour && n > maxHours {
		return 1<<63 - 1, nil
	}
	return time.Duration(n) * unit, nil
}

// appendStatus appends the gRPC status trailers of st.
func appendStatus(dst []hpack.HeaderField, st *status.Status) []hpack.HeaderField {
	dst = append(dst, hpack.HeaderField{Name: "grpc-status", Value: strconv.Itoa(int(st.Code()))})
	if msg := st.Message(); msg != "" {
		dst = append(dst, hpack.HeaderField{Name: "grpc-message", Value: encodeGRPCMessage(msg)})
	}
	if p := st.Proto(); len(p.GetDetails()) > 0 {
		if b, err := proto.Marshal(p); err == nil {
			dst = append(dst, hpack.HeaderField{Name: "grpc-status-details-bin", Value: base64.RawStdEncoding.EncodeToString(b)})
		}
	}
	return dst
}

// encodeGRPCMessage percent-encodes what the gRPC spec requires: bytes outside printable
// ASCII, and '%'.
func encodeGRPCMessage(msg string) string {
	clean := true
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c < ' ' || c > '~' || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c < ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// HeaderValue makes s a valid header field value: control characters become spaces.
func HeaderValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
