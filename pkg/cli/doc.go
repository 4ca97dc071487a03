// Package cli is the command line of jmpctl, the service's kubectl-style tool. It has two
// halves that share the root command and Run:
//
//   - client commands, which use the service as a Jumpstarter client does, with a client
//     config (--config FILE, else $JMPCTL_CONFIG, else JMP_ENDPOINT/JMP_TOKEN/JMP_NAMESPACE/
//     JMP_NAME, else the user config's current client; wire contract §4.1):
//     lease create|list|get|release|extend, exporters list (ONLINE and LEASED columns),
//     shell (acquire, connect, run `-- CMD ARGS` on the exporter or a local $SHELL with the
//     lease in its environment, release on every way out), forward (a local TCP port to a
//     driver's connect stream, one tunnel per connection) and power on|off|cycle. The
//     controller calls are package jmpclient's; the tunnel and driver client come in through
//     session.Deps (DefaultSessionDeps wires pkg/tunnel and pkg/driverclient), so tests run
//     every command against a fake controller and a fake exporter.
//   - admin commands, which talk to the cluster with the caller's kubeconfig (--kubeconfig,
//     $KUBECONFIG, ~/.kube/config; --context; -n defaults to the context's namespace), over
//     package admin, which holds their logic.
//
// Output is for people and scripts alike: -o json|yaml prints the protocol messages in their
// protojson form (lists as {"leases": [...]} or {"exporters": [...]}), -o name prints bare
// names one a line (LEASE=$(jmpctl lease create -l board=rpi4 --wait -o name)), and the
// default is a kubectl-style table. Progress and notes go to standard error only.
//
// Run is the whole program minus os.Exit: errors go to standard error, once, naming the
// object, and the exit code says what kind of failure it was, so that CI scripts can branch
// on it:
//
//	0    success
//	1    error (controller, exporter, config, ...)
//	2    usage: unknown command or flag, bad arguments or flag values
//	3    the lease cannot be acquired: Unsatisfiable or Invalid, or it ended before it was granted
//	4    timed out waiting for the lease (acquisition timeout) or its exporter (dial timeout)
//	130  interrupted (Ctrl-C, SIGTERM); a lease the command took is released all the same
//
// `shell -- CMD ARGS` exits with CMD's exit code when CMD ran, and the interactive shell with
// the local shell's.
package cli
