package lab

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// localhost is the only address the lab listens on.
const localhost = "127.0.0.1"

const (
	// portRangeLow is the lowest port FreePorts picks.
	portRangeLow = 10000
	// defaultEphemeralLow is the start of Linux's default ephemeral port range, used when
	// /proc/sys/net/ipv4/ip_local_port_range cannot be read.
	defaultEphemeralLow = 32768
	// portPickAttempts bounds the random search for free ports.
	portPickAttempts = 1000
)

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free when it was called.
//
// The ports are picked at random below the kernel's ephemeral range. Ports in that range are
// what bind(":0") hands out, but also what outgoing connections use: a port picked there can be
// taken by, say, the apiserver's connection to etcd in the second between picking it and the
// controller binding it. Below the range only another lab picking the same random port can
// collide. Every listener stays open until all n ports are picked, so they differ.
func FreePorts(n int) ([]int, error) {
	low, high := portRangeLow, ephemeralLow()-1
	if high-low < 1000 {
		return freeEphemeralPorts(n)
	}
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for attempt := 0; len(ports) < n; attempt++ {
		if attempt == portPickAttempts {
			return nil, fmt.Errorf("pick %d free ports: none free after %d attempts in %d-%d", n, attempt, low, high)
		}
		p := low + rand.IntN(high-low+1)
		l, err := net.Listen("tcp", hostPort(p))
		if err != nil {
			continue // taken, or picked already
		}
		listeners = append(listeners, l)
		ports = append(ports, p)
	}
	return ports, nil
}

// freeEphemeralPorts lets the kernel pick the ports.
func freeEphemeralPorts(n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(localhost, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralLow returns the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralLow
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return defaultEphemeralLow
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return defaultEphemeralLow
	}
	return low
}

// PortFree reports whether nothing listens on 127.0.0.1:port.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", hostPort(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// waitPortsFree waits until every port can be bound again, or the timeout passes.
func waitPortsFree(ports []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var busy []int
		for _, p := range ports {
			if !PortFree(p) {
				busy = append(busy, p)
			}
		}
		if len(busy) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ports still bound after %s: %v", timeout, busy)
		}
		time.Sleep(pollInterval)
	}
}

func hostPort(port int) string {
	return net.JoinHostPort(localhost, strconv.Itoa(port))
}

// FreeTCPAndUDPPort is a loopback port free on both TCP and UDP, for a router bound to both
// (gRPC and QUIC on one port), picked by the kernel.
func FreeTCPAndUDPPort() (int, error) {
	for range portPickAttempts {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		port := lis.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenPacket("udp", lis.Addr().String())
		_ = lis.Close()
		if err == nil {
			_ = udp.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("pick a free port: none free on both TCP and UDP after %d attempts", portPickAttempts)
}
