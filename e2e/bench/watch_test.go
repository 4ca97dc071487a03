package bench

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// watchUntil lists the objects of list's kind, then watches them from the list's resource
// version, and hands observe every listed object (as Added), then a nil object (as Bookmark) to
// say that the list is done, then every event, until observe returns true or ctx ends. A watch
// the server closes is resumed where it stopped.
func watchUntil(ctx context.Context, c client.WithWatch, list client.ObjectList, observe func(watch.EventType, client.Object) bool, opts ...client.ListOption) error {
	if err := c.List(ctx, list, opts...); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	for _, item := range items {
		if obj, ok := item.(client.Object); ok && observe(watch.Added, obj) {
			return nil
		}
	}
	if observe(watch.Bookmark, nil) {
		return nil
	}
	rv := list.GetResourceVersion()
	for {
		watchOpts := append(append([]client.ListOption(nil), opts...), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		w, err := c.Watch(ctx, list.DeepCopyObject().(client.ObjectList), watchOpts...)
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		done, err := func() (bool, error) {
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					return false, fmt.Errorf("watch: %w", apierrors.FromObject(ev.Object))
				}
				obj, ok := ev.Object.(client.Object)
				if !ok {
					continue
				}
				rv = obj.GetResourceVersion()
				if observe(ev.Type, obj) {
					return true, nil
				}
			}
			return false, nil
		}()
		if done || err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
