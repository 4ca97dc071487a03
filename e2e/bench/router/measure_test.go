package routerbench

import (
	"crypto/rand"
	"fmt"
	"io"
	"time"
)

const (
	transferSize = 256 << 20
	writeSize    = 64 << 10
	rttSize      = 64
	rttTrips     = 4000
	rttRounds    = 20
	rttWarmup    = 200
)

// throughput sends transferSize bytes to a sink; the time runs from the first write until
// the sink's acknowledgement of the end of stream is back.
func throughput(a conn) (mbps float64, err error) {
	chunk := make([]byte, writeSize)
	_, _ = rand.Read(chunk)
	if _, err := a.Write([]byte{modeSink}); err != nil {
		return 0, err
	}
	start := time.Now()
	for sent := 0; sent < transferSize; sent += writeSize {
		if _, err := a.Write(chunk); err != nil {
			return 0, fmt.Errorf("after %d bytes: %w", sent, err)
		}
	}
	if err := a.CloseWrite(); err != nil {
		return 0, err
	}
	ack := make([]byte, 1)
	if _, err := io.ReadFull(a, ack); err != nil {
		return 0, fmt.Errorf("acknowledgement: %w", err)
	}
	return float64(transferSize) / 1e6 / time.Since(start).Seconds(), nil
}

// startEcho turns the far end into an echo and warms the path up.
func startEcho(a conn) error {
	if _, err := a.Write([]byte{modeEcho}); err != nil {
		return err
	}
	_, err := roundTrips(a, rttWarmup)
	return err
}

// roundTrips times n round trips of rttSize bytes on a connection in echo mode.
func roundTrips(a conn, n int) ([]time.Duration, error) {
	msg, resp := make([]byte, rttSize), make([]byte, rttSize)
	samples := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := a.Write(msg); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(a, resp); err != nil {
			return nil, err
		}
		samples = append(samples, time.Since(start))
	}
	return samples, nil
}
