package h2relay

import (
	"encoding/binary"
	"slices"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// healthCheckMethod is served natively: load balancers and probes call it.
const healthCheckMethod = "/grpc.health.v1.Health/Check"

// serveHealth answers a complete health check request; s.rmu is held.
func (c *conn) serveHealth(s *Stream) {
	var msg []byte
	for _, ch := range s.held.chunks {
		msg = append(msg, (*ch.buf)[ch.off:ch.end]...)
	}
	s.held.reset()
	var req healthpb.HealthCheckRequest
	if len(msg) < prefixLen || msg[0] != 0 || int(binary.BigEndian.Uint32(msg[1:])) != len(msg)-prefixLen ||
		proto.Unmarshal(msg[prefixLen:], &req) != nil {
		go s.Abort(status.New(codes.Internal, "malformed health check request"))
		return
	}
	if !slices.Contains(c.srv.opts.HealthServices, req.GetService()) {
		go s.Abort(status.New(codes.NotFound, "unknown service"))
		return
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if c.srv.serving() {
		st = healthpb.HealthCheckResponse_SERVING
	}
	body, _ := proto.Marshal(&healthpb.HealthCheckResponse{Status: st})
	reply := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body))), body...)
	// Answered from another goroutine: Accept and Finish take the receive lock we hold.
	go func() {
		if s.Accept() == nil {
			_ = s.writeMessage(reply, nil)
			s.Finish()
		}
	}()
}
