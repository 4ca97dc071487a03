package lab

import (
	"net"
	"testing"
	"time"
)

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("bad or duplicate port %d in %v", p, ports)
		}
		seen[p] = true
		if low := ephemeralLow(); low-portRangeLow >= 1000 && (p < portRangeLow || p >= low) {
			t.Errorf("port %d outside %d-%d", p, portRangeLow, low-1)
		}
		if !PortFree(p) {
			t.Errorf("port %d not free after FreePorts returned", p)
		}
	}

	l, err := net.Listen("tcp", hostPort(ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	if PortFree(ports[0]) {
		t.Error("PortFree reports a bound port as free")
	}
	if err := waitPortsFree(ports[:1], 200*time.Millisecond); err == nil {
		t.Error("waitPortsFree returned nil for a bound port")
	}
	l.Close()
	if err := waitPortsFree(ports, time.Second); err != nil {
		t.Error(err)
	}
}
