package builtin

import (
	"jumpstarter.dev/service/pkg/drivers"
	"jumpstarter.dev/service/pkg/drivers/power"
	"jumpstarter.dev/service/pkg/drivers/serial"
	"jumpstarter.dev/service/pkg/drivers/shell"
	"jumpstarter.dev/service/pkg/drivers/tcp"
)

// CompositeType is the upstream class path of a composite.
const CompositeType = "jumpstarter_driver_composite.driver.Composite"

// Registry is a new Registry with every built-in driver.
func Registry() *drivers.Registry {
	r := drivers.NewRegistry()
	for _, e := range []struct {
		factory drivers.Factory
		names   []string
	}{
		{power.New, []string{power.TypeName}},
		{tcp.New, []string{tcp.TypeName, tcp.UpstreamType}},
		{serial.New, []string{serial.TypeName, serial.UpstreamType}},
		{shell.New, []string{shell.TypeName, shell.UpstreamType}},
		{drivers.NewComposite, []string{"composite", CompositeType}},
	} {
		// The names above are distinct constants; a clash is a bug of this file, caught by
		// its test.
		if err := r.Register(e.factory, e.names...); err != nil {
			panic(err)
		}
	}
	return r
}
