// Package power is the `power` driver: it switches a device's power with commands the
// exporter's config names (a relay tool, a smart plug's CLI, a PDU's SNMP set). It reports the
// upstream PowerClient, so `j power on|off|cycle` of an unchanged upstream client drives it:
//
//	export:
//	  power:
//	    type: power
//	    config:
//	      on: "relayctl 1 on"         # required
//	      off: "relayctl 1 off"       # required
//	      read: "relayctl 1 measure"  # optional: prints "<volts> <amps>" or {"voltage":..,"current":..}
//	      shell: [sh, -c]             # interpreter of the commands (default)
//	      timeout: 30                 # seconds per command (default)
//	      cycle_wait: 2               # seconds between off and on in cycle (default)
//
// Methods, as upstream's PowerInterface: on() and off() (DriverCall, return "ok"); read()
// (StreamingDriverCall) yields one {voltage, current} reading per call of the read command.
// cycle(wait?) is this driver's own: off, wait, on. The upstream client cycles on its side
// with off and on, so it does not need it. A command that fails (non-zero exit, timeout) is an
// error carrying its exit status and the end of its stderr.
package power
