package support

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// LeaseHistory is what a Recorder saw of one lease, in local wall-clock time of the watch.
type LeaseHistory struct {
	Name      string
	Created   time.Time // when the lease first appeared in the watch
	Granted   time.Time // first Ready=True
	Ended     time.Time // first ended=true
	EndTime   time.Time // when the lease was due to end (granted + duration, from status)
	Exporter  string
	Grants    int // times the lease went into Ready=True; more than one is a double grant
	EndReason string
}

// Recorder watches every lease of a namespace and checks, event by event, that no exporter is
// ever held by two Ready leases at once. The API server sends a namespace's events in
// resourceVersion order, so the check sees the same order the writes happened in.
type Recorder struct {
	mu         sync.Mutex
	leases     map[string]*LeaseHistory
	holder     map[string]string // exporter -> Ready lease
	violations []string
	changed    chan struct{}
}

// StartRecorder starts watching; it stops when ctx ends.
func StartRecorder(ctx context.Context, c client.WithWatch, namespace string) (*Recorder, error) {
	r := &Recorder{leases: map[string]*LeaseHistory{}, holder: map[string]string{}, changed: make(chan struct{}, 1)}
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	w, err := c.Watch(ctx, &jumpstarterv1alpha1.LeaseList{}, client.InNamespace(namespace),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		return nil, fmt.Errorf("watch leases: %w", err)
	}
	for i := range list.Items {
		r.observe(&list.Items[i], time.Now())
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
				if l, isLease := ev.Object.(*jumpstarterv1alpha1.Lease); isLease && ev.Type != watch.Error && ev.Type != watch.Deleted {
					r.observe(l, time.Now())
				}
			}
		}
	}()
	return r, nil
}

func (r *Recorder) observe(l *jumpstarterv1alpha1.Lease, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.leases[l.Name]
	if h == nil {
		h = &LeaseHistory{Name: l.Name, Created: at}
		r.leases[l.Name] = h
	}
	ready := IsReady(l)
	wasReady := !h.Granted.IsZero() && h.Ended.IsZero() && r.holder[h.Exporter] == l.Name
	if ready && !wasReady {
		h.Grants++
		if h.Granted.IsZero() {
			h.Granted = at
		}
		h.Exporter = l.Status.ExporterRef.Name
		if other, held := r.holder[h.Exporter]; held && other != l.Name {
			r.violations = append(r.violations, fmt.Sprintf("exporter %s granted to %s while %s held it", h.Exporter, l.Name, other))
		}
		r.holder[h.Exporter] = l.Name
		if l.Spec.Duration != nil && l.Status.BeginTime != nil {
			h.EndTime = l.Status.BeginTime.Add(l.Spec.Duration.Duration)
		}
	}
	if l.Status.Ended && h.Ended.IsZero() {
		h.Ended = at
		for _, c := range l.Status.Conditions {
			if c.Type != jumpstarterv1alpha1.LeaseConditionPending {
				h.EndReason = c.Reason
			}
		}
		if r.holder[h.Exporter] == l.Name {
			delete(r.holder, h.Exporter)
		}
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Violations are the double grants seen so far.
func (r *Recorder) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.violations...)
}

// History is a copy of what was seen of each lease.
func (r *Recorder) History() map[string]LeaseHistory {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]LeaseHistory, len(r.leases))
	for k, v := range r.leases {
		out[k] = *v
	}
	return out
}

// WaitAll waits until pred holds for all the named leases.
func (r *Recorder) WaitAll(ctx context.Context, names []string, timeout time.Duration, pred func(LeaseHistory) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		missing := 0
		h := r.History()
		for _, n := range names {
			if lh, ok := h[n]; !ok || !pred(lh) {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d leases did not reach the state within %v", missing, len(names), timeout)
		case <-r.changed:
		case <-time.After(time.Second):
		}
	}
}
