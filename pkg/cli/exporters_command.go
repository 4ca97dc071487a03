package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"jumpstarter.dev/service/pkg/jmpclient"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

func newExportersCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "exporters",
		Aliases: []string{"exporter"},
		Short:   "List exporters",
	}
	cmd.AddCommand(newExportersListCommand(e))
	return cmd
}

func newExportersListCommand(e *env) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:     "list [--selector K=V]",
		Aliases: []string{"ls"},
		Short:   "List the exporters of the namespace: whether they are online and leased, their status and labels",
		Long: "List the exporters of the namespace, or those whose labels match --selector. ONLINE says whether the\n" +
			"exporter is connected to the controller, LEASED whether an active lease holds it (of any client).\n" +
			"With -o json or yaml, each exporter also has leased, lease and leaseClient.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(e.client.output, outputTable, outputJSON, outputYAML, outputName); err != nil {
				return err
			}
			_, c, err := e.controller()
			if err != nil {
				return err
			}
			defer c.Close()
			exporters, err := c.ListExporters(cmd.Context(), selector)
			if err != nil {
				return err
			}
			if len(exporters) == 0 && e.client.output == outputTable {
				fmt.Fprintln(e.streams.ErrOut, "No exporters found.")
				return nil
			}
			leases, err := c.ListLeases(cmd.Context(), jmpclient.LeaseFilter{AllClients: true})
			if err != nil {
				return err
			}
			holders := map[string]*clientv1.Lease{}
			for _, l := range leases {
				if s, _ := jmpclient.Evaluate(l); s == jmpclient.StateReady && l.GetExporter() != "" {
					holders[l.GetExporter()] = l
				}
			}
			rows := make([]exporterRow, 0, len(exporters))
			for _, x := range exporters {
				rows = append(rows, exporterRow{exporter: x, lease: holders[x.GetName()]})
			}
			return printExporters(e.streams.Out, e.client.output, rows)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector over exporter labels, e.g. board=rpi4")
	return cmd
}
