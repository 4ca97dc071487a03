// Package cli is the command line of jmpctl, the service's kubectl-style tool: cobra commands
// and flags over package admin, which holds the logic. Commands talk to the cluster with the
// caller's kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config; --context; -n defaults to the
// context's namespace).
//
// Run is the whole program minus os.Exit: errors go to standard error, naming the object, and
// the exit code is 0 on success and 1 on any error.
package cli
