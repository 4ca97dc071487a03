package framestream

import (
	"context"
	"errors"
	"io"
	"net"
)

// HalfCloser is a byte stream that can end its writing side alone (drivers.Conn).
type HalfCloser interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// copyBufferSize is one DATA frame, so that a socket read becomes one frame.
const copyBufferSize = MaxFrameSize

// Join copies a to b and b to a until both directions have ended, propagating each
// direction's end as a half-close (CloseWrite) of the other side. The first failure, or the
// end of ctx, closes both. It returns the first error other than the ones that closing
// causes; a clean end of both directions is nil. Join does not close a or b on success.
func Join(ctx context.Context, a, b HalfCloser) error {
	errc := make(chan error, 2)
	go func() { errc <- copyHalf(b, a) }()
	go func() { errc <- copyHalf(a, b) }()
	closeBoth := func() {
		_ = a.Close()
		_ = b.Close()
	}
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()
	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
			closeBoth()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(first, net.ErrClosed) {
		return nil
	}
	return first
}

// copyHalf copies src to dst and half-closes dst at src's end.
func copyHalf(dst, src HalfCloser) error {
	buf := make([]byte, copyBufferSize)
	// The wrappers hide ReadFrom/WriteTo so that every chunk is at most one frame.
	if _, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf); err != nil {
		return err
	}
	return dst.CloseWrite()
}
