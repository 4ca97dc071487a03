package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// podHistory is what a podTracer saw of one lease's placeholder pod, in local time.
type podHistory struct {
	Created, Bound, Deleted time.Time
}

// podTracer watches the placeholder pods of a namespace to split a grant or a hand-over into
// its steps: the controller creates the placeholder, the scheduler binds it, the controller
// writes the grant (status.beginTime, from the lease recorder); on the way out the controller
// deletes the placeholder of an ended lease.
type podTracer struct {
	mu   sync.Mutex
	pods map[string]*podHistory // by lease name
}

func startPodTracer(ctx context.Context, c client.WithWatch, ns string) (*podTracer, error) {
	t := &podTracer{pods: map[string]*podHistory{}}
	if err := watchPods(ctx, c, ns, jumpstarterv1alpha1.LabelLeaseName, t.observe); err != nil {
		return nil, err
	}
	return t, nil
}

// watchPods calls observe, stamped with the local clock, for every watch event of the pods of
// the namespace that carry the label, from now until ctx ends. A RetryWatcher resumes from the
// last resourceVersion when the server closes the watch, which a busy apiserver does several
// times in the load scenario.
func watchPods(ctx context.Context, c client.WithWatch, ns, label string, observe func(watch.EventType, *corev1.Pod, time.Time)) error {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, pods.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns), client.HasLabels{label}, &client.ListOptions{Raw: &opts})
		},
	})
	if err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				if pod, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type != watch.Error {
					observe(ev.Type, pod, time.Now())
				}
			}
		}
	}()
	return nil
}

func (t *podTracer) observe(typ watch.EventType, pod *corev1.Pod, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lease := pod.Labels[jumpstarterv1alpha1.LabelLeaseName]
	h := t.pods[lease]
	if h == nil {
		h = &podHistory{Created: at}
		t.pods[lease] = h
	}
	setOnce := func(field *time.Time, cond bool) {
		if cond && field.IsZero() {
			*field = at
		}
	}
	setOnce(&h.Bound, pod.Spec.NodeName != "")
	setOnce(&h.Deleted, typ == watch.Deleted || !pod.DeletionTimestamp.IsZero())
}

// history returns a copy of what was seen of the placeholder of a lease.
func (t *podTracer) history(lease string) podHistory {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.pods[lease]; h != nil {
		return *h
	}
	return podHistory{}
}

// steps collects named durations and renders their percentiles.
type steps struct {
	names []string
	ds    map[string][]time.Duration
}

func (s *steps) add(name string, from, to time.Time) {
	if from.IsZero() || to.IsZero() {
		return
	}
	if s.ds == nil {
		s.ds = map[string][]time.Duration{}
	}
	if _, ok := s.ds[name]; !ok {
		s.names = append(s.names, name)
	}
	s.ds[name] = append(s.ds[name], to.Sub(from))
}

// addTo adds one row per step to the table: p50 / p99.
func (s *steps) addTo(results *table, scenario string) {
	for _, n := range s.names {
		results.add(scenario, "step: "+n+" p50 / p99", human(percentile(s.ds[n], 0.5))+" / "+human(percentile(s.ds[n], 0.99)), "—")
	}
}
