package lease

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// deletedPods is the placeholder each lease had deleted last, by the lease's name: one entry
// per lease, dropped with the lease.
type deletedPods struct {
	mu   sync.Mutex
	uids map[types.NamespacedName]types.UID
}

func (d *deletedPods) add(lease types.NamespacedName, pod types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.uids == nil {
		d.uids = map[types.NamespacedName]types.UID{}
	}
	d.uids[lease] = pod
}

func (d *deletedPods) has(lease types.NamespacedName, pod types.UID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	deleted, ok := d.uids[lease]
	return ok && deleted == pod
}

// hasAny: this reconciler deleted a placeholder of the lease.
func (d *deletedPods) hasAny(lease types.NamespacedName) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.uids[lease]
	return ok
}

func (d *deletedPods) forget(lease types.NamespacedName) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.uids, lease)
}
