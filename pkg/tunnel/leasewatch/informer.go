package leasewatch

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/routertoken"
)

// Informer is the Watcher of a router in a cluster: a watch of all jumpstarter.dev Leases.
type Informer struct {
	cache cache.Cache
	t     table
}

var _ Watcher = (*Informer)(nil)

// NewInformer prepares the watch; Start runs it. cfg needs get, list and watch on
// leases.jumpstarter.dev in every namespace, and nothing else.
func NewInformer(cfg *rest.Config) (*Informer, error) {
	scheme := runtime.NewScheme()
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("lease watch: %w", err)
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultTransform: slim})
	if err != nil {
		return nil, fmt.Errorf("lease watch: %w", err)
	}
	return &Informer{cache: c}, nil
}

// slim keeps of a lease only what Active needs, so that the router's memory does not grow
// with lease specs, conditions and managed fields.
func slim(obj any) (any, error) {
	l, ok := obj.(*jumpstarterv1alpha1.Lease)
	if !ok {
		return obj, nil
	}
	out := &jumpstarterv1alpha1.Lease{}
	out.Namespace, out.Name, out.UID = l.Namespace, l.Name, l.UID
	out.ResourceVersion, out.DeletionTimestamp = l.ResourceVersion, l.DeletionTimestamp
	out.Status.Ended = l.Status.Ended
	return out, nil
}

// Start runs the watch until ctx ends and returns once it has listed every lease, so that a
// router refuses nothing for want of having looked.
func (i *Informer) Start(ctx context.Context) error {
	inf, err := i.cache.GetInformer(ctx, &jumpstarterv1alpha1.Lease{})
	if err != nil {
		return fmt.Errorf("lease watch: %w", err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    i.update,
		UpdateFunc: func(_, obj any) { i.update(obj) },
		DeleteFunc: i.delete,
	}); err != nil {
		return fmt.Errorf("lease watch: %w", err)
	}
	go func() {
		if err := i.cache.Start(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Lease watch stopped")
		}
	}()
	if !i.cache.WaitForCacheSync(ctx) {
		return errors.New("lease watch: the lease list did not sync")
	}
	return nil
}

// Active reports whether the lease exists with this UID, has not ended, and is not being
// deleted.
func (i *Informer) Active(namespace, name string, uid types.UID) bool {
	return i.t.Active(namespace, name, uid)
}

// Subscribe calls fn when an active lease ends, is deleted or is replaced.
func (i *Informer) Subscribe(fn func(routertoken.LeaseRef)) func() { return i.t.Subscribe(fn) }

func (i *Informer) update(obj any) {
	l, ok := obj.(*jumpstarterv1alpha1.Lease)
	if !ok {
		return
	}
	i.t.set(types.NamespacedName{Namespace: l.Namespace, Name: l.Name},
		&leaseState{uid: l.UID, ended: l.Status.Ended || l.DeletionTimestamp != nil})
}

func (i *Informer) delete(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if l, ok := obj.(*jumpstarterv1alpha1.Lease); ok {
		i.t.set(types.NamespacedName{Namespace: l.Namespace, Name: l.Name}, nil)
	}
}
