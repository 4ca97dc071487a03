package ownwrites

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Log remembers the latest write of each object by this process. The zero value is ready.
type Log[T client.Object] struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]entry[T]
}

type entry[T client.Object] struct {
	// superseded are the resourceVersions that this process's writes replaced, up to written.
	superseded map[string]struct{}
	written    T
}

// Wrote records that this process replaced version replaced of the object with written, as
// the API server returned it.
func (l *Log[T]) Wrote(key types.NamespacedName, replaced string, written T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries == nil {
		l.entries = map[types.NamespacedName]entry[T]{}
	}
	e, ok := l.entries[key]
	if !ok || e.written.GetResourceVersion() != replaced {
		// The chain restarts: what we replaced was not our own last write.
		e = entry[T]{superseded: map[string]struct{}{}}
	}
	e.superseded[replaced] = struct{}{}
	e.written = written.DeepCopyObject().(T)
	l.entries[key] = e
}

// Fresh returns the newest copy of the object this process knows: a copy of its own last
// write while the cache still shows a version that write superseded, else cached. Once the
// cache shows anything else (the write itself, or a later one), the record is dropped.
func (l *Log[T]) Fresh(key types.NamespacedName, cached T) T {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok {
		return cached
	}
	if _, stale := e.superseded[cached.GetResourceVersion()]; stale {
		return e.written.DeepCopyObject().(T)
	}
	delete(l.entries, key)
	return cached
}

// Forget drops the record of an object, e.g. once it is gone.
func (l *Log[T]) Forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}

// Len is the number of objects remembered.
func (l *Log[T]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
