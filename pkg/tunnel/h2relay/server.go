package h2relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/tunnel/tlsbatch"
)

// Options configure NewServer.
type Options struct {
	// TLSConfig serves the connections; h2 is put first in its NextProtos.
	TLSConfig *tls.Config
	// Method is the relayed method's path, e.g. "/jumpstarter.v1.RouterService/Stream".
	Method string
	// Handler is given each new stream of Method with its request metadata, on its
	// connection's reader: it must not block. It answers the stream (Accept, Abort) and links
	// it (Link, LinkBytes), from any goroutine.
	Handler func(s *Stream, md Metadata)
	// HealthServices are the service names grpc.health.v1.Health/Check knows ("" is the
	// server as a whole); they are SERVING while the server serves.
	HealthServices []string
}

// Server serves HTTP/2 gRPC connections; see the package documentation.
type Server struct {
	opts   Options
	tls    *tls.Config
	logger logr.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{}
	lis      net.Listener
	stopping bool
	wg       sync.WaitGroup // connection goroutines
}

// NewServer makes a server.
func NewServer(opts Options) (*Server, error) {
	if opts.TLSConfig == nil || opts.Handler == nil || opts.Method == "" {
		return nil, errors.New("h2relay: a TLS configuration, a method and a handler are required")
	}
	tc := opts.TLSConfig.Clone()
	tc.NextProtos = append([]string{"h2"}, slices.DeleteFunc(slices.Clone(tc.NextProtos), func(p string) bool { return p == "h2" })...)
	return &Server{opts: opts, tls: tc, logger: klog.Background(), conns: map[*conn]struct{}{}}, nil
}

// Serve accepts connections on lis until Shutdown or Close; it returns nil then, else the
// listener's error.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	s.mu.Lock()
	s.logger = klog.FromContext(ctx).WithName("h2relay")
	if s.stopping {
		s.mu.Unlock()
		_ = lis.Close()
		return nil
	}
	s.lis = lis
	s.mu.Unlock()
	for {
		nc, err := lis.Accept()
		if err != nil {
			s.mu.Lock()
			stopping := s.stopping
			s.mu.Unlock()
			if stopping {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return fmt.Errorf("h2relay: accept: %w", err)
		}
		s.wg.Add(1)
		go s.handshake(ctx, nc)
	}
}

// handshake runs TLS, then starts the connection's reader on a goroutine of its own: the
// handshake grows a stack well beyond what the reader needs for the connection's life.
func (s *Server) handshake(ctx context.Context, nc net.Conn) {
	cc := &tlsbatch.Conn{Conn: nc}
	tc := tls.Server(cc, s.tls)
	_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err == nil {
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" && p != "" {
			err = fmt.Errorf("ALPN %q is not h2", p)
		}
	}
	if err != nil {
		s.logger.V(4).Info("TLS handshake failed", "remote", nc.RemoteAddr(), "err", err)
		_ = nc.Close()
		s.wg.Done()
		return
	}
	_ = tc.SetWriteDeadline(time.Time{})
	c := newConn(s, tc)
	c.batch = cc
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		_ = tc.Close()
		s.wg.Done()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
	}()
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stopping
}

// Shutdown stops accepting connections and streams: the listener closes and every
// connection gets GOAWAY. Open streams go on.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.stopping = true
	lis := s.lis
	conns := s.connList()
	s.mu.Unlock()
	if lis != nil {
		_ = lis.Close()
	}
	for _, c := range conns {
		c.shutdown()
	}
}

// Close shuts down and closes every connection, letting peers read what was sent last (up to
// a second), and waits for their goroutines.
func (s *Server) Close() {
	s.Shutdown()
	s.mu.Lock()
	conns := s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		// Half-close first: closing with unread input would reset the connection, and the
		// peer could lose the trailers we just sent.
		if tc, ok := c.nc.(*tls.Conn); ok {
			c.wmu.Lock()
			_ = tc.SetWriteDeadline(time.Now().Add(time.Second))
			_ = tc.CloseWrite()
			c.wmu.Unlock()
		}
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(time.Second):
	}
	s.mu.Lock()
	conns = s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.nc.Close()
	}
	<-done
}

func (s *Server) connList() []*conn {
	list := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	return list
}
