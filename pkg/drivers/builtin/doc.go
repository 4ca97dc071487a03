// Package builtin registers the drivers this repository ships under their short names and,
// where a driver stands in for an upstream one, the upstream class path too, so that an
// exporter config written for the Python exporter keeps working:
//
//   - power (package power): client jumpstarter_driver_power.client.PowerClient;
//   - tcp, jumpstarter_driver_network.driver.TcpNetwork (package tcp): client
//     jumpstarter_driver_network.client.NetworkClient;
//   - serial, jumpstarter_driver_pyserial.driver.PySerial (package serial): client
//     jumpstarter_driver_pyserial.client.PySerialClient;
//   - shell, jumpstarter_driver_shell.driver.Shell (package shell): client
//     jumpstarter_driver_shell.client.ShellClient;
//   - composite, jumpstarter_driver_composite.driver.Composite (package drivers): client
//     jumpstarter_driver_composite.client.CompositeClient.
package builtin
