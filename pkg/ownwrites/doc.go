// Package ownwrites gives a controller read-your-writes on top of its informer cache.
//
// A reconciler that writes an object and is woken again before the watch delivers that write
// reads its own stale copy from the cache. With optimistic locking (resourceVersion
// preconditions) the stale decision cannot land, but it costs a rejected write, a conflict
// retry and the latency of both; under load, in the lease benchmark, a third of the lease
// status writes were such conflicts. A Log remembers, per object, what this process wrote and
// which versions that write superseded, until the cache shows something else:
//
//	lease = log.Fresh(key, lease)        // after reading from the cache
//	base := lease.ResourceVersion
//	... patch ...                        // the client updates lease from the response
//	log.Wrote(key, base, lease)
//
// Only versions this process itself replaced are overridden, so a write by anyone else (the
// cache shows a version the log does not know) always wins, and a write based on the
// remembered copy still carries the precondition that detects a concurrent writer.
package ownwrites
