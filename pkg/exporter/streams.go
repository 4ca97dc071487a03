package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// followStream opens a server stream and hands every message to handle, reopening the
// stream as §3.8 says: at once after a clean end, after StreamWaitUnavailable when it failed
// with UNAVAILABLE ("Stream removed"), after StreamWait otherwise, giving up after
// StreamRetries failures in a row; a received message or a clean end resets the count.
// opened, if set, runs after the first successful open. followStream returns the error it
// gave up on, or the context's.
func followStream[T any](ctx context.Context, p RetryPolicy, what string,
	open func(context.Context) (grpc.ServerStreamingClient[T], error), opened func(), handle func(*T)) error {
	logger := klog.FromContext(ctx)
	failures := 0
	for {
		stream, err := open(ctx)
		if err == nil {
			if opened != nil {
				opened()
				opened = nil
			}
			for {
				var msg *T
				if msg, err = stream.Recv(); err != nil {
					break
				}
				failures = 0
				handle(msg)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, io.EOF) {
			failures = 0
			logger.V(1).Info("Stream ended, reopening", "stream", what)
			continue
		}
		failures++
		if failures > p.StreamRetries {
			return fmt.Errorf("%s: giving up after %d retries: %w", what, p.StreamRetries, err)
		}
		wait := p.StreamWait
		if status.Code(err) == codes.Unavailable || strings.Contains(err.Error(), "Stream removed") {
			wait = p.StreamWaitUnavailable
		}
		logger.Info("Stream failed, reopening", "stream", what, "err", err, "retry", failures, "after", wait)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}
