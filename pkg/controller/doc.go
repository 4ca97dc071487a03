// Package controller assembles the Jumpstarter controller: the manager, its cache (limited to
// virtual nodes, placeholder pods and credential Secrets) and a second cache of the pods that
// ask for a lease, leader election, the token signing key, and the reconcilers of the virtual
// nodes, the node agent, the leases, the pods that ask for a lease and the credentials of
// clients and exporters.
package controller
