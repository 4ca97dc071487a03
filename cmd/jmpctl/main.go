// Command jmpctl uses and manages a Jumpstarter service: as a client (lease, exporters, shell,
// forward, power, with a client config) and as an admin (`jmpctl admin create client|exporter
// NAME` creates the object and writes the config file the Jumpstarter tools read; get, delete
// and rotate do what they say). See package jumpstarter.dev/service/pkg/cli, which also lists
// the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"jumpstarter.dev/service/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, nil)
	stop()
	os.Exit(code)
}
