// Package conflict turns optimistic-lock conflicts into quiet requeues. The reconcilers write
// with resourceVersion preconditions so that no decision taken on a stale cache lands; a
// conflict then only means the cache had not caught up yet, which is no error worth logging.
package conflict
