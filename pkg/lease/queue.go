package lease

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// queueKey groups leases that wait for the same exporters: same selector, same pin.
func queueKey(lease *jumpstarterv1alpha1.Lease) string {
	key := selectorString(lease)
	if lease.Spec.ExporterRef != nil {
		key += "|" + lease.Spec.ExporterRef.Name
	}
	return key
}

// isQueued: waiting for the scheduler, neither granted nor ended.
func isQueued(lease *jumpstarterv1alpha1.Lease) bool {
	return !lease.Status.Ended && lease.Status.ExporterRef == nil && lease.Status.PlaceholderPod != ""
}

// aheadOf orders the queue the way the scheduler's queue sort does: priority, then creation.
func aheadOf(a, b *jumpstarterv1alpha1.Lease) bool {
	if a.Status.Priority != b.Status.Priority {
		return a.Status.Priority > b.Status.Priority
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// queueKeys caches queue keys by lease (name, checked against the UID, so that a new lease of
// the same name gets its own key). A lease's selector and exporterRef cannot change
// (CEL rules on the CRD), so neither can its key; rendering it parses and validates the
// selector, and a position is computed against every lease queued in the namespace, which at
// 5000 waiting leases made queue positions the controller's main CPU cost.
type queueKeys struct {
	mu   sync.Mutex
	keys map[types.NamespacedName]cachedKey
}

type cachedKey struct {
	uid types.UID
	key string
}

func (c *queueKeys) of(lease *jumpstarterv1alpha1.Lease) string {
	name := types.NamespacedName{Namespace: lease.Namespace, Name: lease.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cached, ok := c.keys[name]; ok && cached.uid == lease.UID {
		return cached.key
	}
	if c.keys == nil {
		c.keys = map[types.NamespacedName]cachedKey{}
	}
	key := queueKey(lease)
	c.keys[name] = cachedKey{uid: lease.UID, key: key}
	return key
}

// forget drops the key of a lease that no longer waits, or is gone.
func (c *queueKeys) forget(name types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, name)
}

// queuePosition is 1 + the number of queued leases in the namespace that wait for the same
// exporters and come first. Leases with other selectors may compete for some of the same
// exporters; they are not counted, so the position is a lower bound in mixed queues. It also
// returns how many leases are queued in the namespace.
func queuePosition(lease *jumpstarterv1alpha1.Lease, all []jumpstarterv1alpha1.Lease, keys *queueKeys) (position int32, queued int) {
	key := keys.of(lease)
	position = 1
	for i := range all {
		other := &all[i]
		if other.Name == lease.Name || !isQueued(other) {
			continue
		}
		queued++
		if aheadOf(other, lease) && keys.of(other) == key {
			position++
		}
	}
	return position, queued + 1
}

// queueRefreshWritesPerInterval bounds the position refreshes of a namespace: each waiting lease
// refreshes once per refresh interval, stretched so that all of them together write at most this
// many statuses per interval, however long the queue.
const queueRefreshWritesPerInterval = 100

// refreshAfter is how often a waiting lease refreshes its position.
func refreshAfter(base time.Duration, queued int) time.Duration {
	if queued <= queueRefreshWritesPerInterval {
		return base
	}
	return base * time.Duration(queued) / queueRefreshWritesPerInterval
}

// spreadRefresh draws the time until a lease's next refresh uniformly from half to one and a
// half of its refresh interval d. Leases queued in one burst (500 created at once) would
// otherwise refresh in one burst too, interval after interval, and the bound of
// queueRefreshWritesPerInterval would hold only on average, not over any interval.
func spreadRefresh(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d/2 + rand.N(d)
}
