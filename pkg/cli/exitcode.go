package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"jumpstarter.dev/service/pkg/jmpclient"
)

// Exit codes of jmpctl, which CI scripts may rely on. `shell -- CMD` exits with CMD's code
// instead when the command ran.
const (
	ExitOK = 0
	// ExitError is any other error: the controller refused, the exporter is unreachable, a
	// file is missing, ...
	ExitError = 1
	// ExitUsage is a command line that does not parse: unknown command or flag, missing or
	// extra arguments, a bad flag value.
	ExitUsage = 2
	// ExitLeaseFailed: the lease can never be acquired (Unsatisfiable or Invalid, or it
	// ended before it was granted).
	ExitLeaseFailed = 3
	// ExitTimeout: waiting for the lease (acquisition timeout) or for its exporter (dial
	// timeout) ran out of time.
	ExitTimeout = 4
	// ExitInterrupted: interrupted (Ctrl-C, SIGTERM) before the command was done.
	ExitInterrupted = 130
)

// exitCodesHelp is the exit-code section of the help texts.
const exitCodesHelp = `Exit codes:
  0    success
  1    error (controller, exporter, config, ...)
  2    usage: unknown command or flag, bad arguments or flag values
  3    the lease cannot be acquired: Unsatisfiable or Invalid, or ended before it was granted
  4    timed out waiting for the lease (acquisition timeout) or its exporter (dial timeout)
  130  interrupted`

// usageError is a command line that does not parse.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// ExitCodeError makes jmpctl exit with Code and print nothing: the command it ran has
// spoken for itself.
type ExitCodeError struct{ Code int }

func (e ExitCodeError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

func isExitCode(err error) bool {
	var e ExitCodeError
	return errors.As(err, &e)
}

// exitCode is the exit code for the error a command returned.
func exitCode(ctx context.Context, err error) int {
	var (
		code    ExitCodeError
		usage   usageError
		failed  *jmpclient.LeaseFailedError
		timeout *jmpclient.TimeoutError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return code.Code
	case errors.As(err, &usage):
		return ExitUsage
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &failed):
		return ExitLeaseFailed
	case errors.As(err, &timeout):
		return ExitTimeout
	}
	return ExitError
}

// markUsageErrors makes every argument and flag error of the command tree a usageError,
// and gives command groups an answer for an unknown subcommand.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
			c.Args = cobra.ArbitraryArgs
			c.RunE = runGroup
		}
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// runGroup is the command of a group of commands: help, or an error for an unknown one.
func runGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		// cobra's own default, which it sets only on its own path.
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}
