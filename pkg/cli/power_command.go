package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"jumpstarter.dev/service/pkg/cli/session"
	"jumpstarter.dev/service/pkg/jmpclient"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// powerActions are what power does.
var powerActions = []string{"on", "off", "cycle"}

func newPowerCommand(e *env) *cobra.Command {
	var lease, driver, transport string
	cmd := &cobra.Command{
		Use:       "power on|off|cycle [--lease L] [--driver NAME]",
		Short:     "Switch the power of a leased exporter's device",
		Long:      "Switch the power driver (--driver, default: the exporter's one power driver) of the exporter of the\nlease (--lease, default $JMP_LEASE).\n\n" + exitCodesHelp,
		ValidArgs: powerActions,
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			action := args[0]
			if !slices.Contains(powerActions, action) {
				return usageErrorf("power %q: want on, off or cycle", action)
			}
			t, err := e.target(lease, transport)
			if err != nil {
				return err
			}
			defer t.client.Close()
			lease := t.lease
			ctx := cmd.Context()
			drivers, err := t.opener.Open(ctx, lease, nil)
			if err != nil {
				return err
			}
			defer drivers.Close()
			if err := drivers.Power(ctx, driver, action); err != nil {
				return fmt.Errorf("power %s on lease %s: %w", action, jmpclient.BareName(lease), err)
			}
			fmt.Fprintf(e.streams.ErrOut, "power %s: done (lease %s)\n", action, jmpclient.BareName(lease))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&lease, "lease", "", "the lease (default: $JMP_LEASE)")
	fl.StringVar(&driver, "driver", "", "the power driver (default: the exporter's one power driver)")
	fl.StringVar(&transport, "transport", session.TransportGRPC, "how to reach the router: grpc or quic")
	return cmd
}

// describe is a condition as "Type=Status (Reason): message", or a note that there is none.
func describe(c *jumpstarterv1.Condition) string {
	if c == nil {
		return "no condition yet"
	}
	return fmt.Sprintf("%s=%s (%s): %s", c.GetType(), c.GetStatus(), c.GetReason(), c.GetMessage())
}
