// Package controller assembles the Jumpstarter controller: the manager, its cache (limited to
// virtual nodes, placeholder pods and credential Secrets), leader election, the token signing
// key, and the reconcilers of the virtual nodes, the node agent, the leases and the
// credentials of clients and exporters.
package controller
