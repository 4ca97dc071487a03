// Package requeue is the controllers' retry policy. The reconcilers write with resourceVersion
// preconditions so that no decision taken on a stale cache lands; a conflict then only means
// the cache had not caught up, so it requeues quietly. Retries back off per object, without the
// overall 10-per-second cap of controller-runtime's default limiter: a burst of hundreds of
// leases would otherwise queue behind it.
package requeue
