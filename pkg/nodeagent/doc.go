// Package nodeagent plays the kubelet of the exporters' virtual nodes. A virtual node accepts
// any pod bound to it, so the agent is where exclusivity is enforced a second time: it accepts
// (marks Running) exactly one placeholder per node, refuses any other pod bound there, and
// completes the deletion of pods on its nodes, which no kubelet will ever confirm.
//
// Work is keyed by node, so one node is never handled by two workers at once, and decisions are
// made on a fresh list from the API server rather than the cache: a stale cache must never let
// a second placeholder be accepted.
package nodeagent
