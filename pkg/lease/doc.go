// Package lease reconciles Leases. A pending lease becomes a placeholder pod that asks the
// scheduler for one jumpstarter.dev/exporter; the pod's binding, admitted by the node agent
// (package nodeagent, in the same process), is the grant. The lease is granted as soon as the
// binding is seen and admitted; the node agent marks the placeholder Running afterwards, off
// the hand-over's path. The reconciler turns what happened to the pod into the lease's status,
// conditions and events, and ends leases on release, expiry, or loss of their placeholder.
//
// Work is ordered by work-queue priority: grants and ends first (UrgentPriority), then new
// leases' placeholders (0), then new leases' waiting status (waitingStatusPriority, and only
// DefaultWaitingStatusDelay after the placeholder appeared, so that a lease granted at once
// never waits behind it), then queue position refreshes. Under a burst of new leases on a busy
// API server, that keeps hand-overs and placeholder creation ahead of status that only informs.
//
// An expiring lease gives up its placeholder ReleaseAhead (one second) before its end time, so
// the scheduler binds the next lease's placeholder meanwhile; the node agent admits that one
// only once this lease's end is written, so a hand-over costs the end's write and the grant's,
// not the chain of delete, watch, bind and watch after the end. A lease with no placeholder
// within that window is not lost: it holds its exporter until its end time.
//
// Everything is derived from the lease and its pod, so a restarted controller picks up where
// the last one stopped; an ended lease is checked first and written with an optimistic lock,
// so it is never granted again. The reconciler reads its own last status write until the
// cache shows it (package ownwrites): a lease is often woken again before the watch brings
// that write back, and a decision on the stale copy would only cost a conflict.
//
// The ExporterAccessPolicies of the namespace (package accesspolicy) are read when a lease is
// queued: they give its placeholder a PriorityClass (jumpstarter-priority-N), a spot-access
// label that lets a lease of higher priority preempt it, and node affinity limited to the
// exporters they open to its client; a lease they lock out of every exporter ends as NoAccess.
//
// An ended lease is deleted once it has been over for EndedRetention (a week in the
// controller), so that years of CI leases do not pile up in etcd and in every listing.
//
// Metrics counts grants and ends as their status writes succeed, with how long leases waited
// and how late expiring ones ended, and serves a gauge of leases by phase from the cache.
package lease
