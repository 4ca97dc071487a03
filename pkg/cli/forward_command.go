package cli

import (
	"context"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"jumpstarter.dev/service/pkg/cli/session"
	"jumpstarter.dev/service/pkg/jmpclient"
)

func newForwardCommand(e *env) *cobra.Command {
	var lease, driver, transport string
	cmd := &cobra.Command{
		Use:   "forward --lease L --driver NAME LOCAL_ADDR",
		Short: "Forward a local TCP port to a network driver of a leased exporter, until interrupted",
		Long: "Listen on LOCAL_ADDR (host:port; port 0 picks one, printed on standard error) and forward each\n" +
			"connection to the driver's connect stream on the exporter of the lease (--lease, default $JMP_LEASE):\n" +
			"every connection dials the controller, opens its own tunnel through the router and its own\n" +
			"session, so one failing does not affect the others. Runs until interrupted, then exits 0.\n\n" +
			exitCodesHelp,
		Example: "  jmpctl forward --lease $LEASE --driver ssh 127.0.0.1:2222 &\n  ssh -p 2222 root@127.0.0.1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if driver == "" {
				return usageErrorf("--driver: required")
			}
			t, err := e.target(lease, transport)
			if err != nil {
				return err
			}
			defer t.client.Close()
			o := t.opener
			if err := o.Wired(); err != nil {
				return err
			}
			ctx := cmd.Context()
			// A lease that is not ours, or not granted, fails here rather than on each connection.
			l, err := t.client.GetLease(ctx, t.lease)
			if err != nil {
				return err
			}
			if state, cond := jmpclient.Evaluate(l); state != jmpclient.StateReady {
				return fmt.Errorf("lease %s is not ready: %s", jmpclient.BareName(l.GetName()), describe(cond))
			}
			var lc net.ListenConfig
			ln, err := lc.Listen(ctx, "tcp", args[0])
			if err != nil {
				return fmt.Errorf("listen on %s: %w", args[0], err)
			}
			fmt.Fprintf(e.streams.ErrOut, "Forwarding %s to driver %s of lease %s on exporter %s\n",
				ln.Addr(), driver, jmpclient.BareName(l.GetName()), jmpclient.BareName(l.GetExporter()))
			return session.Forward(ctx, ln,
				func(ctx context.Context) (net.Conn, error) { return o.Connect(ctx, l.GetName(), driver) },
				func(err error) { fmt.Fprintf(e.streams.ErrOut, "connection failed: %v\n", err) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&lease, "lease", "", "the lease (default: $JMP_LEASE)")
	fl.StringVar(&driver, "driver", "", "the network driver to forward to, e.g. ssh (a tcp driver)")
	fl.StringVar(&transport, "transport", session.TransportGRPC, "how to reach the router: grpc or quic")
	return cmd
}
