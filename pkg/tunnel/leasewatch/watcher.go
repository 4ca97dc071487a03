package leasewatch

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"jumpstarter.dev/service/pkg/auth/routertoken"
)

// Watcher is what a router needs to know of leases.
type Watcher interface {
	// Active reports whether the lease namespace/name exists with this UID and has not ended.
	Active(namespace, name string, uid types.UID) bool
	// Subscribe calls fn with every lease that stops being active after it was seen active
	// (it ended, was deleted, or was replaced by a lease of the same name). fn runs on the
	// watcher's goroutine and must not block. unsubscribe stops the calls.
	Subscribe(fn func(routertoken.LeaseRef)) (unsubscribe func())
}

// AlwaysActive is the Watcher of a router that runs without a cluster: every lease is active
// and none ends; token expiry alone bounds a ticket.
type AlwaysActive struct{}

// Active is always true.
func (AlwaysActive) Active(string, string, types.UID) bool { return true }

// Subscribe never calls fn.
func (AlwaysActive) Subscribe(func(routertoken.LeaseRef)) func() { return func() {} }

// subscribers is a set of end callbacks, safe for concurrent use.
type subscribers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(routertoken.LeaseRef)
}

func (s *subscribers) add(fn func(routertoken.LeaseRef)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fns == nil {
		s.fns = map[int]func(routertoken.LeaseRef){}
	}
	id := s.next
	s.next++
	s.fns[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.fns, id)
	}
}

func (s *subscribers) notify(ref routertoken.LeaseRef) {
	s.mu.Lock()
	fns := make([]func(routertoken.LeaseRef), 0, len(s.fns))
	for _, fn := range s.fns {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(ref)
	}
}

// leaseState is what a watcher keeps per lease name.
type leaseState struct {
	uid   types.UID
	ended bool
}

// table maps lease names to their state and tells subscribers about ends; Memory and
// Informer share it.
type table struct {
	mu     sync.RWMutex
	leases map[types.NamespacedName]leaseState
	subs   subscribers
}

func (t *table) Active(namespace, name string, uid types.UID) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	st, ok := t.leases[types.NamespacedName{Namespace: namespace, Name: name}]
	return ok && st.uid == uid && !st.ended
}

func (t *table) Subscribe(fn func(routertoken.LeaseRef)) func() { return t.subs.add(fn) }

// set records the state of a lease (nil: gone) and notifies the end of the one it replaces,
// after the table shows the change, so that a caller that registers a tunnel and then checks
// Active cannot miss an end.
func (t *table) set(key types.NamespacedName, st *leaseState) {
	t.mu.Lock()
	if t.leases == nil {
		t.leases = map[types.NamespacedName]leaseState{}
	}
	old, had := t.leases[key]
	if st == nil {
		delete(t.leases, key)
	} else {
		t.leases[key] = *st
	}
	t.mu.Unlock()
	if had && !old.ended && (st == nil || st.ended || st.uid != old.uid) {
		t.subs.notify(routertoken.LeaseRef{Namespace: key.Namespace, Name: key.Name, UID: old.uid})
	}
}

// Memory is a Watcher whose leases the caller sets: for tests, and for a router fed by
// something other than the API server.
type Memory struct {
	t table
}

var _ Watcher = (*Memory)(nil)

// NewMemory is a Memory that knows no lease.
func NewMemory() *Memory { return &Memory{} }

// Active reports whether the lease was Started and has not Ended since.
func (m *Memory) Active(namespace, name string, uid types.UID) bool {
	return m.t.Active(namespace, name, uid)
}

// Subscribe calls fn when a Started lease Ends (or a Start replaces it with another UID).
func (m *Memory) Subscribe(fn func(routertoken.LeaseRef)) func() { return m.t.Subscribe(fn) }

// Start makes the lease active.
func (m *Memory) Start(ref routertoken.LeaseRef) {
	m.t.set(types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &leaseState{uid: ref.UID})
}

// End ends the lease (if ref's UID is the current one) and notifies subscribers.
func (m *Memory) End(ref routertoken.LeaseRef) {
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	if m.t.Active(ref.Namespace, ref.Name, ref.UID) {
		m.t.set(key, &leaseState{uid: ref.UID, ended: true})
	}
}
