// Package tcp is the `tcp` driver: a TCP port next to the exporter (a device's ssh, a board's
// telnet console, a web UI), reached by a client through the tunnel. It stands in for the
// upstream jumpstarter_driver_network.driver.TcpNetwork, with the same config and client
// class (NetworkClient), so `j <name>` port-forwarding of an unchanged upstream client works:
//
//	export:
//	  ssh:
//	    type: tcp            # or jumpstarter_driver_network.driver.TcpNetwork
//	    config: {host: 192.168.1.10, port: 22}
//
// Its one method is the byte stream connect: each RouterService/Stream call with request
// {"kind":"driver","uuid":...,"method":"connect"} opens a new TCP connection, and the exporter
// bridges the two, half-closes included.
package tcp
