// Package nodeagent plays the kubelet of the exporters' virtual nodes. A virtual node accepts
// any pod bound to it, so the agent is where exclusivity is enforced a second time: it accepts
// (marks Running) exactly one placeholder per node, refuses any other pod bound there, and
// completes the deletion of pods on its nodes, which no kubelet will ever confirm.
//
// Work is keyed by node, so one node is never handled by two workers at once. Decisions are made
// on the cache plus the agent's own record of what it accepted on each node, so a cache that has
// not yet seen an acceptance never lets a second placeholder in, and no decision waits on a
// round trip to the API server.
package nodeagent
