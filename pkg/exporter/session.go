package exporter

import (
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// sessionPingMinTime is how often a client may ping the session server: the Python channel
// pings every 20 s, even without calls (§3.1).
const sessionPingMinTime = 5 * time.Second

// session serves one lease's ExporterService and driver streams on the tunnels of that
// lease: one gRPC server, fed each tunnel as an accepted connection.
type session struct {
	server *grpc.Server
	lis    *tunnelListener
	served chan struct{}
}

func newSession(svc *service) *session {
	server := grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: sessionPingMinTime, PermitWithoutStream: true}),
	)
	jumpstarterv1.RegisterExporterServiceServer(server, svc)
	jumpstarterv1.RegisterRouterServiceServer(server, svc)
	s := &session{server: server, lis: newTunnelListener(), served: make(chan struct{})}
	go func() {
		defer close(s.served)
		// Serve ends when close stops the server; its error then says nothing new.
		_ = server.Serve(s.lis)
	}()
	return s
}

// serve hands a tunnel to the session, which closes it when the session ends.
func (s *session) serve(conn net.Conn) {
	s.lis.push(conn)
}

// close ends every call, stream and tunnel of the session.
func (s *session) close() {
	s.server.Stop()
	_ = s.lis.Close()
	<-s.served
}

// tunnelListener is a net.Listener whose connections are the tunnels handed to it: the
// gRPC server accepts a tunnel as if a client had connected.
type tunnelListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newTunnelListener() *tunnelListener {
	return &tunnelListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *tunnelListener) push(conn net.Conn) {
	select {
	case l.conns <- conn:
	case <-l.done:
		_ = conn.Close()
	}
}

func (l *tunnelListener) Accept() (net.Conn, error) {
	select {
	case conn := <-l.conns:
		return conn, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tunnelListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *tunnelListener) Addr() net.Addr { return tunnelAddr{} }

type tunnelAddr struct{}

func (tunnelAddr) Network() string { return "tunnel" }
func (tunnelAddr) String() string  { return "tunnel" }
