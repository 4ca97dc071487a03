// Package serial is the `serial` driver: a serial device (or a pty) on the exporter's host,
// streamed to a client through the tunnel. It stands in for the upstream
// jumpstarter_driver_pyserial.driver.PySerial, with its config keys and client class
// (PySerialClient), so an unchanged upstream client's console works:
//
//	export:
//	  console:
//	    type: serial          # or jumpstarter_driver_pyserial.driver.PySerial
//	    config:
//	      url: /dev/ttyUSB0   # a device path ("path" is accepted as well)
//	      baudrate: 115200    # default
//	      check_present: true # default: refuse to start if the device is missing
//
// Its one method is the byte stream connect. The device is opened raw (8N1, no echo, no line
// editing, no flow control) at the configured speed for each stream, one stream at a time: a
// second connect while one is open is refused with UNAVAILABLE, so two readers never split a
// console's output. A serial line cannot half-close, so the client's end of writing is
// ignored (as upstream); the stream ends when the client closes it.
package serial
