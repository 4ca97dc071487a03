package routerbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// envRole makes the test binary, re-executed, play a helper process instead of running tests.
const envRole = "ROUTERBENCH_ROLE"

// roleNaiveRelay is the naive relay; its arguments come in envNaiveArgs.
const (
	roleNaiveRelay = "naive-relay"
	envNaiveArgs   = "ROUTERBENCH_NAIVE_ARGS" // addr,cert,key,routerkey
)

func TestMain(m *testing.M) {
	var run func([]string) error
	var args string
	switch os.Getenv(envRole) {
	case roleNaiveRelay:
		run, args = runNaiveRelay, os.Getenv(envNaiveArgs)
	case roleFarEnd:
		run, args = runFarEnd, os.Getenv(envFarArgs)
	}
	if run != nil {
		if err := run(strings.Split(args, ",")); err != nil {
			fmt.Fprintln(os.Stderr, os.Getenv(envRole)+":", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runNaiveRelay serves the naive router until killed.
func runNaiveRelay(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("want addr,cert,key,routerkey; got %q", args)
	}
	creds, err := credentials.NewServerTLSFromFile(args[1], args[2])
	if err != nil {
		return err
	}
	key, err := routertoken.LoadKeyFile(args[3])
	if err != nil {
		return err
	}
	verifier, err := routertoken.NewVerifier(key, clock.RealClock{})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	// grpc-go's defaults, as upstream, but for the keepalive policy the contract requires.
	srv := grpc.NewServer(grpc.Creds(creds),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}))
	jumpstarterv1.RegisterRouterServiceServer(srv, &naiveRelay{verifier: verifier, pending: map[string]*naiveWaiter{}})
	fmt.Println("ready")
	return srv.Serve(lis)
}

// naiveRelay pairs like the upstream router: the first stream waits until its RPC ends; the
// second forwards both directions, one goroutine each, parsing and re-marshalling every frame.
type naiveRelay struct {
	jumpstarterv1.UnimplementedRouterServiceServer
	verifier *routertoken.Verifier
	mu       sync.Mutex
	pending  map[string]*naiveWaiter
}

type naiveWaiter struct {
	stream jumpstarterv1.RouterService_StreamServer
	done   chan struct{}
}

func (r *naiveRelay) Stream(stream jumpstarterv1.RouterService_StreamServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	auth := md.Get("authorization")
	if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
		return status.Error(codes.Unauthenticated, "missing or invalid authorization")
	}
	claims, err := r.verifier.Verify(strings.TrimPrefix(auth[0], "Bearer "))
	if err != nil {
		return status.Error(codes.Unauthenticated, "invalid jwt token")
	}
	// Our dialer waits for headers to know it was accepted; upstream sends them with the
	// first message, which changes nothing measured here.
	if err := stream.SendHeader(metadata.Pairs("jumpstarter-tunnel", "accepted")); err != nil {
		return err
	}
	r.mu.Lock()
	first, ok := r.pending[claims.StreamID]
	if !ok {
		w := &naiveWaiter{stream: stream, done: make(chan struct{})}
		r.pending[claims.StreamID] = w
		r.mu.Unlock()
		select {
		case <-w.done:
		case <-stream.Context().Done():
			r.mu.Lock()
			delete(r.pending, claims.StreamID)
			r.mu.Unlock()
		}
		return nil
	}
	delete(r.pending, claims.StreamID)
	r.mu.Unlock()
	defer close(first.done)
	g, _ := errgroup.WithContext(context.Background())
	g.Go(func() error { return naiveForward(first.stream, stream) })
	g.Go(func() error { return naiveForward(stream, first.stream) })
	return g.Wait()
}

func naiveForward(src, dst jumpstarterv1.RouterService_StreamServer) error {
	for {
		req, err := src.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := dst.Send(&jumpstarterv1.StreamResponse{Payload: req.GetPayload(), FrameType: req.GetFrameType()}); err != nil {
			return err
		}
	}
}
