package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"jumpstarter.dev/service/pkg/cli/session"
	"jumpstarter.dev/service/pkg/jmpclient"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

// DefaultLeaseDuration is the duration of a lease when --duration is not given, as in the
// Python tools.
const DefaultLeaseDuration = 30 * time.Minute

func newLeaseCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "lease",
		Aliases: []string{"leases"},
		Short:   "Create, list, get, release and extend leases",
	}
	cmd.AddCommand(newLeaseCreateCommand(e), newLeaseListCommand(e), newLeaseGetCommand(e), newLeaseReleaseCommand(e), newLeaseExtendCommand(e))
	return cmd
}

// leaseRequestFlags are the flags that describe a new lease.
type leaseRequestFlags struct {
	selector string
	exporter string
	duration time.Duration
	tags     []string
	timeout  time.Duration
}

func (f *leaseRequestFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.selector, "selector", "l", "", "label selector over exporter labels, e.g. board=rpi4,site=lab1")
	fl.StringVar(&f.exporter, "exporter", "", "lease this exporter (by name), with or without --selector")
	fl.DurationVar(&f.duration, "duration", DefaultLeaseDuration, "how long the lease lasts once granted")
	fl.StringArrayVar(&f.tags, "tag", nil, "a tag of the lease, key=value; repeatable")
	fl.DurationVar(&f.timeout, "timeout", 0, "how long to wait for the lease (default: leases.acquisition_timeout of the config, 2h)")
}

func (f *leaseRequestFlags) request() (jmpclient.LeaseRequest, error) {
	if f.selector == "" && f.exporter == "" {
		return jmpclient.LeaseRequest{}, usageErrorf("--selector or --exporter: one is required")
	}
	if f.duration <= 0 {
		return jmpclient.LeaseRequest{}, usageErrorf("--duration %s: want a positive duration", f.duration)
	}
	if f.timeout < 0 {
		return jmpclient.LeaseRequest{}, usageErrorf("--timeout %s: want a positive duration", f.timeout)
	}
	tags, err := parseKeyValues("tag", f.tags)
	if err != nil {
		return jmpclient.LeaseRequest{}, err
	}
	return jmpclient.LeaseRequest{Selector: f.selector, Exporter: f.exporter, Duration: f.duration, Tags: tags}, nil
}

func (f *leaseRequestFlags) acquisitionTimeout(cfg *jmpclient.Config) time.Duration {
	if f.timeout > 0 {
		return f.timeout
	}
	return cfg.AcquisitionTimeout
}

func newLeaseCreateCommand(e *env) *cobra.Command {
	var (
		req  leaseRequestFlags
		wait bool
	)
	cmd := &cobra.Command{
		Use:   "create (--selector K=V | --exporter NAME) [--duration D] [--wait]",
		Short: "Ask for a lease; with --wait, wait until it is granted",
		Long: "Ask for a lease of an exporter that matches --selector (or of --exporter) and print it.\n" +
			"With --wait, wait until the lease is granted, reporting what it waits for on standard error, and\n" +
			"print it then; a wait that fails, times out or is interrupted releases the lease.\n" +
			"`-o name` prints just the lease id, for scripts:\n\n" +
			"  LEASE=$(jmpctl lease create -l board=rpi4 --wait -o name)\n\n" + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(e.client.output, outputTable, outputJSON, outputYAML, outputName); err != nil {
				return err
			}
			r, err := req.request()
			if err != nil {
				return err
			}
			cfg, c, err := e.controller()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			var lease *clientv1.Lease
			if !wait {
				lease, err = c.CreateLease(ctx, r)
			} else {
				p := newProgress(e.streams.ErrOut)
				lease, err = c.Acquire(ctx, r, req.acquisitionTimeout(cfg), p.report)
				if err != nil && lease != nil {
					releaseUnlessEnded(cmd, c, lease, err, p)
				}
			}
			if err != nil {
				return err
			}
			return printLeases(e.streams.Out, e.client.output, []*clientv1.Lease{lease}, e.opts.Now())
		},
	}
	req.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the lease is granted")
	return cmd
}

// releaseUnlessEnded gives back a lease a failed wait leaves behind; a lease that failed
// has ended already.
func releaseUnlessEnded(cmd *cobra.Command, c *jmpclient.Client, lease *clientv1.Lease, err error, p *progress) {
	if failed := (*jmpclient.LeaseFailedError)(nil); errors.As(err, &failed) {
		return
	}
	id := jmpclient.BareName(lease.GetName())
	if rerr := session.Release(cmd.Context(), c, lease.GetName()); rerr != nil {
		p.note(fmt.Sprintf("Releasing lease %s failed: %v", id, rerr))
		return
	}
	p.note("Lease " + id + " released")
}

func newLeaseListCommand(e *env) *cobra.Command {
	var f jmpclient.LeaseFilter
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the active leases of this client (--all: of every client in the namespace)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(e.client.output, outputTable, outputJSON, outputYAML, outputName); err != nil {
				return err
			}
			_, c, err := e.controller()
			if err != nil {
				return err
			}
			defer c.Close()
			leases, err := c.ListLeases(cmd.Context(), f)
			if err != nil {
				return err
			}
			if len(leases) == 0 && e.client.output == outputTable {
				fmt.Fprintln(e.streams.ErrOut, "No leases found.")
				return nil
			}
			return printLeases(e.streams.Out, e.client.output, leases, e.opts.Now())
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.AllClients, "all", false, "list the leases of every client in the namespace")
	fl.BoolVar(&f.Ended, "ended", false, "list ended leases too")
	fl.StringVarP(&f.Selector, "selector", "l", "", "label selector over the leases' selector labels")
	fl.StringVar(&f.Tags, "tags", "", "label selector over the leases' tags, e.g. ci=yes")
	return cmd
}

func newLeaseGetCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME...",
		Short: "Show leases by id",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(e.client.output, outputTable, outputJSON, outputYAML, outputName); err != nil {
				return err
			}
			_, c, err := e.controller()
			if err != nil {
				return err
			}
			defer c.Close()
			var leases []*clientv1.Lease
			for _, name := range args {
				l, err := c.GetLease(cmd.Context(), name)
				if err != nil {
					return err
				}
				leases = append(leases, l)
			}
			return printLeases(e.streams.Out, e.client.output, leases, e.opts.Now())
		},
	}
}

func newLeaseReleaseCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "release NAME...",
		Aliases: []string{"delete"},
		Short:   "Give leases back: they end now",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, err := e.controller()
			if err != nil {
				return err
			}
			defer c.Close()
			var errs []error
			for _, name := range args {
				if err := c.ReleaseLease(cmd.Context(), name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(e.streams.Out, "lease %s released\n", jmpclient.BareName(name))
			}
			return errors.Join(errs...)
		},
	}
}

func newLeaseExtendCommand(e *env) *cobra.Command {
	var total, by time.Duration
	cmd := &cobra.Command{
		Use:   "extend NAME (--duration D | --by D)",
		Short: "Change how long a lease lasts: a new total --duration, or --by more",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(e.client.output, outputTable, outputJSON, outputYAML, outputName); err != nil {
				return err
			}
			if (total > 0) == (by > 0) {
				return usageErrorf("--duration or --by: give exactly one, a positive duration")
			}
			_, c, err := e.controller()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			if by > 0 {
				l, err := c.GetLease(ctx, args[0])
				if err != nil {
					return err
				}
				total = l.GetDuration().AsDuration() + by
			}
			l, err := c.SetLeaseDuration(ctx, args[0], total)
			if err != nil {
				return err
			}
			return printLeases(e.streams.Out, e.client.output, []*clientv1.Lease{l}, e.opts.Now())
		},
	}
	cmd.Flags().DurationVar(&total, "duration", 0, "the new total duration of the lease, counted from its begin")
	cmd.Flags().DurationVar(&by, "by", 0, "make the lease this much longer")
	return cmd
}
