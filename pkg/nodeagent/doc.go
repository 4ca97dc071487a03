// Package nodeagent plays the kubelet of the exporters' virtual nodes. A virtual node accepts
// any pod bound to it, so the agent is where exclusivity is enforced a second time: it admits
// exactly one placeholder per node (and marks it Running), refuses any other pod bound there,
// and completes the graceful deletion of pods on its nodes, which no kubelet will ever confirm.
//
// Admission (Admit, and the agent's own reconcile) is one decision under one lock, made on the
// cache plus the agent's record of what it admitted on each node, so a cache that has not yet
// seen an admission never lets a second placeholder in and no decision waits on a round trip
// to the API server. The lease controller asks Admit when it sees a binding and grants the
// lease at once; the Running write follows. After a restart the cache holds every earlier
// admission, as a Running placeholder or as a lease whose status names the exporter.
//
// The lease controller ends a lease by writing its status and deleting its placeholder at the
// same time, or deletes an expiring lease's placeholder a second ahead of its end time (see
// package lease), so the next placeholder may be bound before that end is written. While a lease
// granted the exporter has not ended (as the lease controller's own writes, or the cache after
// a restart, show it) and its placeholder is gone, nobody is admitted or refused on that node
// (Admission.Blocked); asked again when the lease is due to end (Admission.RetryAfter) and
// shortly after, the next placeholder is admitted once the end is written. So no watcher ever
// sees two leases Ready on one exporter. Such a lease is found by its exporter through the
// cache's index and, for a grant the cache does not show yet, through the lease controller's
// own writes (OwnGrants): a lease may release its placeholder within a second of its grant.
package nodeagent
