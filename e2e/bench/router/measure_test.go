package routerbench

import (
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"time"
)

const (
	transferSize = 256 << 20
	writeSize    = 64 << 10
	rttSize      = 64
	rttTrips     = 2000
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

// roundTrips measures rttTrips round trips of rttSize bytes to an echo.
func roundTrips(a conn) (p50, p99 time.Duration, err error) {
	if _, err := a.Write([]byte{modeEcho}); err != nil {
		return 0, 0, err
	}
	msg, resp := make([]byte, rttSize), make([]byte, rttSize)
	samples := make([]time.Duration, 0, rttTrips)
	for i := range rttWarmup + rttTrips {
		start := time.Now()
		if _, err := a.Write(msg); err != nil {
			return 0, 0, err
		}
		if _, err := io.ReadFull(a, resp); err != nil {
			return 0, 0, err
		}
		if i >= rttWarmup {
			samples = append(samples, time.Since(start))
		}
	}
	slices.Sort(samples)
	return samples[len(samples)/2], samples[len(samples)*99/100], nil
}
