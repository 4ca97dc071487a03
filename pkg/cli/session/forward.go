package session

import (
	"context"
	"io"
	"net"
	"sync"
)

// Forward accepts connections on ln until ctx ends, opens a stream for each with open, and
// copies bytes both ways. A failure of one connection goes to report (when not nil) and does
// not stop the others. When ctx ends, the listener and every connection are closed; Forward
// returns nil then, and the accept error otherwise.
func Forward(ctx context.Context, ln net.Listener, open func(context.Context) (net.Conn, error), report func(error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	for {
		local, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The connection ends with ctx, whatever its state.
			unwatch := context.AfterFunc(ctx, func() { _ = local.Close() })
			defer unwatch()
			remote, err := open(ctx)
			if err != nil {
				// Reported before the close, which the local client sees: a report after it
				// could come when ctx has ended meanwhile, and be dropped.
				if report != nil && ctx.Err() == nil {
					report(err)
				}
				_ = local.Close()
				return
			}
			unwatchRemote := context.AfterFunc(ctx, func() { _ = remote.Close() })
			defer unwatchRemote()
			Pipe(local, remote)
		}()
	}
}

type closeWriter interface{ CloseWrite() error }

// Pipe copies a to b and b to a until both directions end, then closes both. The end of one
// direction is passed on as a half-close (CloseWrite) where the conn supports it, so
// request/response protocols finish; otherwise that conn is closed.
func Pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); copyHalf(b, a) }()
	go func() { defer wg.Done(); copyHalf(a, b) }()
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
}

func copyHalf(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(closeWriter); ok && err == nil {
		if cw.CloseWrite() == nil {
			return
		}
	}
	// An error, or no half-close: nothing more can go either way.
	_ = dst.Close()
	_ = src.Close()
}
