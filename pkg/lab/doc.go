// Package lab runs a local Kubernetes control plane for development and end-to-end tests: etcd,
// kube-apiserver and kube-controller-manager built from this module's own dependency graph, plus
// our scheduler and controller, all as plain processes on 127.0.0.1.
//
// Every process listens on ports picked free at start, so two labs (two parallel test suites,
// say) never collide. Everything a lab owns lives in one directory:
//
//	DIR/ca.crt                 the lab CA (also used for the service's gRPC certificates)
//	DIR/pki/                   CA key, serving and client certificates, service-account keys;
//	                           controller-grpc.{crt,key} serve the controller's gRPC listener;
//	                           tokens.csv, the clients' bearer tokens (see tokens.go)
//	DIR/kubeconfig             admin kubeconfig (system:masters), with the admin's token
//	DIR/<component>.kubeconfig kubeconfigs of kube-controller-manager, scheduler and controller
//	DIR/etcd/                  etcd data
//	DIR/logs/<component>.log   stdout and stderr of every process
//	DIR/state.json             ports, PIDs, command lines: what Attach and "lab down" read
//
// Once the apiserver is ready the lab applies the CRDs (config/crd/bases), the controller's
// generated ClusterRole (config/rbac/role.yaml) and its own bindings (see labBindings), creates
// the demo namespace with the CA in ConfigMap jumpstarter-service-ca-cert (where `jmpctl admin
// create` reads it), and it waits for kube-controller-manager to create the default
// ServiceAccount before it goes on.
//
// The controller serves gRPC on 127.0.0.1 at a free port, with a certificate of the lab CA for
// 127.0.0.1 and localhost, and advertises that address (GRPCEndpoint) in the status of Clients
// and Exporters: a config file with tls.ca = DIR/ca.crt reaches it.
//
// Processes run in their own process groups and are not tied to the process that started them:
// Start returns once everything is ready, and Stop (or Attach followed by Stop, from another
// process) stops them in reverse start order, SIGTERM first and SIGKILL after a timeout. The
// state file is written after every process start, so a lab whose parent died can still be
// stopped from it.
package lab
