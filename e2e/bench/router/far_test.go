package routerbench

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
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

// serveFar is the far end of every path: in this process behind a router, or in the
// far-end helper process for the direct paths.
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

// roleFarEnd is the helper process that serves the direct paths; its arguments come in
// envFarArgs.
const (
	roleFarEnd = "far-end"
	envFarArgs = "ROUTERBENCH_FAR_ARGS" // tcpAddr,grpcAddr,cert,key
)

// runFarEnd serves TLS TCP and a gRPC RouterService that serves the stream itself (no
// pairing), both ending in serveFar.
func runFarEnd(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("want tcpAddr,grpcAddr,cert,key; got %q", args)
	}
	cert, err := tls.LoadX509KeyPair(args[2], args[3])
	if err != nil {
		return err
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
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
