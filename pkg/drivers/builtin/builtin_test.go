package builtin_test

import (
	"slices"
	"testing"

	"jumpstarter.dev/service/pkg/drivers/builtin"
)

func TestRegistry(t *testing.T) {
	got := builtin.Registry().Types()
	want := []string{
		"composite", "jumpstarter_driver_composite.driver.Composite",
		"jumpstarter_driver_network.driver.TcpNetwork", "jumpstarter_driver_pyserial.driver.PySerial",
		"jumpstarter_driver_shell.driver.Shell", "power", "serial", "shell", "tcp",
	}
	if !slices.Equal(got, want) {
		t.Errorf("types %v, want %v", got, want)
	}
}
