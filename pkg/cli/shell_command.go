package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"jumpstarter.dev/service/pkg/cli/session"
	"jumpstarter.dev/service/pkg/jmpclient"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Environment of the interactive shell, besides JMP_LEASE and JMPCTL_CONFIG: what the
// Python client tools read inside a `jmp shell`.
const (
	EnvJumpstarterHost = "JUMPSTARTER_HOST"
	EnvDriversAllow    = "JMP_DRIVERS_ALLOW"
	envShell           = "SHELL"
	defaultShell       = "/bin/sh"
)

const shellLong = `Acquire a lease of an exporter that matches --selector (or --exporter), wait for it with progress
on standard error, connect to the exporter through the router and:

  - with -- CMD ARGS: run CMD on the exporter with its shell driver (--driver, default: the
    exporter's one shell driver), print what it prints, and exit with its exit code;
  - without: start $SHELL here, with the lease in its environment: JMP_LEASE (so jmpctl power,
    forward and shell inside use it), JMPCTL_CONFIG, and JUMPSTARTER_HOST, a local socket to the
    exporter's session for the Jumpstarter client tools. The lease is released when it exits.

The lease is released on the way out, also on Ctrl-C. With --lease (or $JMP_LEASE and no
--selector), an existing lease is used and not released.

` + exitCodesHelp + `

With -- CMD, a CMD that ran gives its own exit code instead.`

func newShellCommand(e *env) *cobra.Command {
	var (
		req                      leaseRequestFlags
		lease, transport, driver string
	)
	cmd := &cobra.Command{
		Use:   "shell (--selector K=V | --exporter NAME | --lease L) [--duration D] [--transport grpc|quic] [-- CMD ARGS...]",
		Short: "Lease an exporter and run a command on it, or a shell with the lease in its environment",
		Long:  shellLong,
		Example: "  jmpctl shell -l board=rpi4 -- uname -a\n" +
			"  jmpctl --config ci.yaml shell -l board=rpi4 --duration 10m --transport quic -- ./flash.sh image.bin",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return fmt.Errorf("put the command after --, as in: jmpctl shell -l k=v -- %s", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s := &shellRun{env: e, req: &req, lease: lease, transport: transport, driver: driver}
			return s.run(cmd.Context(), args)
		},
	}
	req.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&lease, "lease", "", "use this lease instead of acquiring one (default: $JMP_LEASE when no --selector or --exporter)")
	fl.StringVar(&transport, "transport", session.TransportGRPC, "how to reach the router: grpc or quic")
	fl.StringVar(&driver, "driver", "", "the shell driver to run CMD with (default: the exporter's one shell driver)")
	return cmd
}

// shellRun is one run of the shell command.
type shellRun struct {
	env                      *env
	req                      *leaseRequestFlags
	lease, transport, driver string
}

func (s *shellRun) run(ctx context.Context, args []string) (err error) {
	e := s.env
	if s.lease != "" && (s.req.selector != "" || s.req.exporter != "") {
		return usageErrorf("--lease: not with --selector or --exporter (a lease or a new one, not both)")
	}
	if s.lease == "" && s.req.selector == "" && s.req.exporter == "" {
		s.lease = e.opts.Getenv(jmpclient.EnvLease)
	}
	var r jmpclient.LeaseRequest
	if s.lease == "" {
		if r, err = s.req.request(); err != nil {
			return err
		}
	}
	cfg, c, err := e.controller()
	if err != nil {
		return err
	}
	defer c.Close()
	o, err := e.opener(cfg, c, s.transport)
	if err != nil {
		return err
	}
	if err := o.Wired(); err != nil {
		// Before taking a lease that could not be used.
		return err
	}
	p := newProgress(e.streams.ErrOut)

	leaseName := s.lease
	var ticket *jumpstarterv1.DialResponse
	if leaseName == "" {
		var l *clientv1.Lease
		l, ticket, err = o.Acquire(ctx, session.Acquisition{
			Request: r, Timeout: s.req.acquisitionTimeout(cfg), RetryTimeout: cfg.RetryTimeout, Progress: p.report, Notify: p.note,
		})
		if l != nil {
			defer func() {
				if failed := (*jmpclient.LeaseFailedError)(nil); errors.As(err, &failed) {
					return // ended already
				}
				id := jmpclient.BareName(l.GetName())
				if rerr := session.Release(ctx, c, l.GetName()); rerr != nil {
					p.note(fmt.Sprintf("Releasing lease %s failed: %v", id, rerr))
					return
				}
				p.note("Lease " + id + " released")
			}()
		}
		if err != nil {
			return err
		}
		leaseName = l.GetName()
	}
	if len(args) == 0 {
		return s.interactive(ctx, o, cfg, leaseName, p)
	}

	drivers, err := o.Open(ctx, leaseName, ticket)
	if err != nil {
		return err
	}
	defer drivers.Close()
	if s.lease == "" {
		// The lease is ours: tell the exporter we are done before giving it back (§3.7 step 9).
		defer func() { _ = session.EndSession(ctx, drivers) }()
	}
	code, err := drivers.Shell(ctx, s.driver, args, e.streams.Out, e.streams.ErrOut)
	if err != nil {
		return fmt.Errorf("run %s on lease %s: %w", args[0], jmpclient.BareName(leaseName), err)
	}
	if code != 0 {
		return ExitCodeError{Code: code}
	}
	return nil
}

// interactive runs $SHELL here with the lease in its environment until it exits. The
// session socket and the shell outlive Ctrl-C, which is the shell's to handle: the session
// ends when the shell does.
func (s *shellRun) interactive(ctx context.Context, o *session.Opener, cfg *jmpclient.Config, lease string, p *progress) error {
	e := s.env
	dir, err := os.MkdirTemp("", "jmpctl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "session.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("session socket: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = session.Forward(sctx, ln, func(ctx context.Context) (net.Conn, error) { return o.Tunnel(ctx, lease) },
			func(err error) { p.note(fmt.Sprintf("session connection: %v", err)) })
	}()
	defer func() { cancel(); <-done }()

	shell := e.opts.Getenv(envShell)
	if shell == "" {
		shell = defaultShell
	}
	id := jmpclient.BareName(lease)
	allow := strings.Join(cfg.Drivers.Allow, ",")
	if cfg.Drivers.Unsafe {
		allow = "UNSAFE"
	}
	cmd := exec.Command(shell)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.streams.In, e.streams.Out, e.streams.ErrOut
	cmd.Env = append(os.Environ(), jmpclient.EnvLease+"="+id, EnvJumpstarterHost+"="+socket, EnvDriversAllow+"="+allow)
	if cfg.Path != "" {
		abs, err := filepath.Abs(cfg.Path)
		if err != nil {
			return err
		}
		cmd.Env = append(cmd.Env, EnvConfig+"="+abs)
	}
	p.note(fmt.Sprintf("Lease %s: starting %s; exit it to end the session", id, shell))
	err = cmd.Run()
	if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ExitCodeError{Code: 128 + int(ws.Signal())}
		}
		return ExitCodeError{Code: exit.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", shell, err)
	}
	return nil
}
