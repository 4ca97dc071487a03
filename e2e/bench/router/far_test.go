package routerbench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"jumpstarter.dev/service/pkg/tunnel"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// Modes of the far end, chosen by the first byte the near end sends.
const (
	modeSink = 'S' // read to the end of stream, then answer one byte
	modeEcho = 'E' // send back everything read
)

// serveFar is the far end of every path: in the far-end helper process for the direct paths
// and router-grpc-apart, in this process behind a router.
func serveFar(c conn) {
	defer c.Close()
	mode := make([]byte, 1)
	if _, err := io.ReadFull(c, mode); err != nil {
		return
	}
	buf := make([]byte, 256<<10)
	switch mode[0] {
	case modeSink:
		for {
			if _, err := c.Read(buf); err == io.EOF {
				break
			} else if err != nil {
				return
			}
		}
		if _, err := c.Write([]byte{1}); err != nil {
			return
		}
		_ = c.CloseWrite()
		_, _ = c.Read(buf)
	case modeEcho:
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
}

// roleFarEnd is the helper process that is the far end of the direct paths and of
// router-grpc-apart; its arguments come in envFarArgs.
const (
	roleFarEnd = "far-end"
	envFarArgs = "ROUTERBENCH_FAR_ARGS" // tcpAddr,grpcAddr,dialAddr,cert,key,ca
)

// runFarEnd serves TLS TCP and a gRPC RouterService that serves the stream itself (no
// pairing), both ending in serveFar; and on dialAddr it takes requests to dial a router as a
// tunnel's exporter end (serveDialRequests).
func runFarEnd(args []string) error {
	if len(args) != 6 {
		return fmt.Errorf("want tcpAddr,grpcAddr,dialAddr,cert,key,ca; got %q", args)
	}
	cert, err := tls.LoadX509KeyPair(args[3], args[4])
	if err != nil {
		return err
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	caPEM, err := os.ReadFile(args[5])
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no certificate in %s", args[5])
	}
	dialLis, err := net.Listen("tcp", args[2])
	if err != nil {
		return err
	}
	go serveDialRequests(dialLis, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	tcp, err := tls.Listen("tcp", args[0], serverTLS)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			go serveFar(c.(*tls.Conn))
		}
	}()
	srv := grpc.NewServer(append(wire.GRPCServerOptions(),
		grpc.Creds(credentials.NewTLS(serverTLS)),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}))...)
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "jumpstarter.v1.RouterService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{StreamName: "Stream", ServerStreams: true, ClientStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				if err := stream.SendHeader(metadata.Pairs("jumpstarter-tunnel", "accepted")); err != nil {
					return err
				}
				sc := tunnel.NewServerConn(stream)
				go serveFar(sc)
				select {
				case <-sc.Done():
				case <-stream.Context().Done():
				}
				return nil
			}}},
	}, nil)
	lis, err := net.Listen("tcp", args[1])
	if err != nil {
		return err
	}
	fmt.Println("ready")
	return srv.Serve(lis)
}

// serveDialRequests dials a router for each request line "transport endpoint token" on a
// connection of lis, as a tunnel's exporter end, answers "ok" once the router accepted the
// token (or the error), and serves the tunnel's far end (router-grpc-apart).
func serveDialRequests(lis net.Listener, clientTLS *tls.Config) {
	for {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(line)
			if len(f) != 3 {
				fmt.Fprintf(c, "error: want transport endpoint token, got %q\n", line)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			far, err := tunnel.Dial(ctx, f[0], f[1], f[2], clientTLS)
			if err != nil {
				fmt.Fprintf(c, "error: %v\n", err)
				return
			}
			go serveFar(far)
			fmt.Fprintln(c, "ok")
		}()
	}
}

// dialFar asks the far-end helper listening on dialAddr to dial endpoint as the exporter end
// of the tunnel of token.
func dialFar(ctx context.Context, dialAddr, transport, endpoint, token string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", dialAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(deadline)
	}
	if _, err := fmt.Fprintf(c, "%s %s %s\n", transport, endpoint, token); err != nil {
		return err
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("far end: %w", err)
	}
	if answer = strings.TrimSpace(answer); answer != "ok" {
		return fmt.Errorf("far end: %s", answer)
	}
	return nil
}
