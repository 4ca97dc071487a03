// Package admin is what `jmpctl admin` does, apart from its command line: it creates, lists,
// deletes and rotates the credentials of Clients and Exporters through the Kubernetes API (the
// caller's kubeconfig), and writes the config files of wire contract §4 that the Jumpstarter
// tools read.
//
// The controller, not this package, issues tokens: creating an object or asking for a rotation
// (the jumpstarter.dev/rotate-token annotation) is a request, and the package waits, bounded
// by Admin.Timeout, until the controller has stored the token in the object's credential
// Secret and advertised its gRPC endpoint in the object's status. The config file then gets
// that endpoint, that token and, as tls.ca, the CA bundle of --ca-file or else of the
// namespace's jumpstarter-service-ca-cert ConfigMap (as the upstream tool does).
package admin
