package controllersvc

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// Informers hands out the cache's informers; a manager's cache (mgr.GetCache()) is one.
type Informers interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// Notifier tells the Status streams of an exporter that something they report may have
// changed: a lease granted to or taken from the exporter, or the exporter's deletion. It
// carries no data, only a wake-up: a stream rereads the cache, so missed or merged wake-ups
// lose nothing. Each subscription costs one map entry and a one-slot channel.
type Notifier struct {
	mu   sync.Mutex
	subs map[types.NamespacedName]map[*subscription]struct{}
}

type subscription struct {
	changed chan struct{}
}

// NewNotifier makes a notifier without event sources; see AddEventHandlers.
func NewNotifier() *Notifier {
	return &Notifier{subs: map[types.NamespacedName]map[*subscription]struct{}{}}
}

// AddEventHandlers feeds the notifier from the Lease and Exporter informers. The informers
// start with the cache; adding handlers before or after the start both work.
func (n *Notifier) AddEventHandlers(ctx context.Context, informers Informers) error {
	leases, err := informers.GetInformer(ctx, &jumpstarterv1alpha1.Lease{})
	if err != nil {
		return fmt.Errorf("get lease informer: %w", err)
	}
	if _, err := leases.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.leaseChanged(obj) },
		UpdateFunc: func(oldObj, newObj any) { n.leaseChanged(oldObj); n.leaseChanged(newObj) },
		DeleteFunc: func(obj any) { n.leaseChanged(obj) },
	}); err != nil {
		return fmt.Errorf("watch leases: %w", err)
	}
	exporters, err := informers.GetInformer(ctx, &jumpstarterv1alpha1.Exporter{})
	if err != nil {
		return fmt.Errorf("get exporter informer: %w", err)
	}
	// Only deletion matters to a stream: its heartbeats are exporter updates too, and waking
	// the stream on each would be pointless work.
	if _, err := exporters.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, newObj any) {
			if e, ok := newObj.(*jumpstarterv1alpha1.Exporter); ok && !e.DeletionTimestamp.IsZero() {
				n.Notify(types.NamespacedName{Namespace: e.Namespace, Name: e.Name})
			}
		},
		DeleteFunc: func(obj any) {
			if e, ok := unwrapTombstone(obj).(*jumpstarterv1alpha1.Exporter); ok {
				n.Notify(types.NamespacedName{Namespace: e.Namespace, Name: e.Name})
			}
		},
	}); err != nil {
		return fmt.Errorf("watch exporters: %w", err)
	}
	return nil
}

// SetupWithManager feeds the notifier from the manager's cache. The server reads leases
// through virtualnode.LeaseExporterIndex, which the manager registers. Call it once, before
// the manager starts.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, n *Notifier) error {
	return n.AddEventHandlers(ctx, mgr.GetCache())
}

// Notify wakes the Status streams of the exporter key.
func (n *Notifier) Notify(key types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for sub := range n.subs[key] {
		select {
		case sub.changed <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// subscribe returns the channel that wakes a stream of the exporter key, and the function
// that ends the subscription.
func (n *Notifier) subscribe(key types.NamespacedName) (<-chan struct{}, func()) {
	sub := &subscription{changed: make(chan struct{}, 1)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs[key] == nil {
		n.subs[key] = map[*subscription]struct{}{}
	}
	n.subs[key][sub] = struct{}{}
	return sub.changed, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.subs[key], sub)
		if len(n.subs[key]) == 0 {
			delete(n.subs, key)
		}
	}
}

// leaseChanged wakes the streams of the exporter a lease names.
func (n *Notifier) leaseChanged(obj any) {
	lease, ok := unwrapTombstone(obj).(*jumpstarterv1alpha1.Lease)
	if !ok || lease.Status.ExporterRef == nil || lease.Status.ExporterRef.Name == "" {
		return
	}
	n.Notify(types.NamespacedName{Namespace: lease.Namespace, Name: lease.Status.ExporterRef.Name})
}

func unwrapTombstone(obj any) any {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
