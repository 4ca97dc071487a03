// Command jmpctl manages a Jumpstarter service through the Kubernetes API: `jmpctl admin create
// client|exporter NAME` creates the object and writes the config file the Jumpstarter tools
// read; get, delete and rotate do what they say (see package jumpstarter.dev/service/pkg/cli).
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
	code := cli.Run(ctx, os.Args[1:], cli.Streams{Out: os.Stdout, ErrOut: os.Stderr}, nil)
	stop()
	os.Exit(code)
}
