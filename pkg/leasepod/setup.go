package leasepod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/requeue"
)

// PodCacheOptions select the pods that ask for a lease, by their label. The manager's own
// cache holds placeholder pods only, and a cluster has many other pods.
func PodCacheOptions(opts cache.Options) cache.Options {
	opts.ByObject = map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Label: labels.SelectorFromSet(labels.Set{jumpstarterv1alpha1.LabelLeaseRequest: "true"})},
	}
	return opts
}

// SetupWithManager watches the pods of pods, a cache made with PodCacheOptions that the
// manager runs, and the leases they control: every change of a lease's status may let its pod
// go or change its condition.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, pods cache.Cache) error {
	if err := mgr.Add(pods); err != nil {
		return fmt.Errorf("add the cache of pods that ask for a lease: %w", err)
	}
	r.Pods = pods
	return ctrl.NewControllerManagedBy(mgr).
		Named("leasepod").
		WatchesRawSource(source.Kind(pods, &corev1.Pod{}, &handler.TypedEnqueueRequestForObject[*corev1.Pod]{})).
		Watches(&jumpstarterv1alpha1.Lease{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &corev1.Pod{}, handler.OnlyControllerOwner())).
		WithOptions(requeue.ControllerOptions(2)).
		Complete(requeue.OnConflict(r))
}
