// Package controller assembles the Jumpstarter controller: the manager, its cache (limited to
// virtual nodes and placeholder pods), leader election, and the reconcilers of the virtual
// nodes, the node agent and the leases.
package controller
