package support

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// LeaseHistory is what a Recorder saw of one lease, in local wall-clock time of the watch.
type LeaseHistory struct {
	Name    string
	Created time.Time // when the lease first appeared in the watch
	Granted time.Time // first Ready=True
	Ended   time.Time // first ended=true
	EndTime time.Time // when the lease was due to end (granted + duration, from status)
	// BeginStamp and EndStamp are status.beginTime and status.endTime: when the controller
	// granted and ended the lease by its own clock, free of the watch's delivery delay.
	BeginStamp time.Time
	EndStamp   time.Time
	Exporter   string
	Grants     int // times the lease went into Ready=True; more than one is a double grant
	EndReason  string
}

// Recorder watches every lease of a namespace and checks, event by event, that no exporter is
// ever held by two Ready leases at once. The API server sends a namespace's events in
// resourceVersion order, so the check sees the same order the writes happened in.
//
// The API server closes a watch whose client falls behind (apiserver_terminated_watchers_total),
// which a busy test machine can cause. The recorder then resumes from the last resourceVersion
// it saw, so no event is missed; if that version is no longer in the server's watch cache, it
// lists again and records a gap: the exclusivity check could not see what happened in between.
type Recorder struct {
	mu         sync.Mutex
	leases     map[string]*LeaseHistory
	holder     map[string]string // exporter -> Ready lease
	violations []string
	gaps       []string
	restarts   int
	changed    chan struct{}
}

// recorderRetryInterval paces new watch and list attempts after one failed.
const recorderRetryInterval = 100 * time.Millisecond

// StartRecorder starts watching; it stops when ctx ends.
func StartRecorder(ctx context.Context, c client.WithWatch, namespace string) (*Recorder, error) {
	r := &Recorder{leases: map[string]*LeaseHistory{}, holder: map[string]string{}, changed: make(chan struct{}, 1)}
	rv, err := r.list(ctx, c, namespace)
	if err != nil {
		return nil, err
	}
	w, err := watchLeases(ctx, c, namespace, rv)
	if err != nil {
		return nil, err
	}
	go r.run(ctx, c, namespace, w, rv)
	return r, nil
}

// run consumes w, and resumes (or restarts) the watch whenever the server closes it, until ctx
// ends.
func (r *Recorder) run(ctx context.Context, c client.WithWatch, namespace string, w watch.Interface, rv string) {
	for {
		next, expired := r.consume(ctx, w, rv)
		w.Stop()
		if expired {
			// Resuming is impossible: start over from a fresh list.
			listed, err := r.list(ctx, c, namespace)
			for err != nil {
				if !sleepCtx(ctx, recorderRetryInterval) {
					return
				}
				listed, err = r.list(ctx, c, namespace)
			}
			r.mu.Lock()
			r.gaps = append(r.gaps, fmt.Sprintf("events between resourceVersion %s and %s were not seen", next, listed))
			r.mu.Unlock()
			next = listed
		}
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		r.restarts++
		r.mu.Unlock()
		rv = next
		for {
			var err error
			if w, err = watchLeases(ctx, c, namespace, rv); err == nil {
				break
			}
			if !sleepCtx(ctx, recorderRetryInterval) {
				return
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// list observes every lease of the namespace and returns the list's resourceVersion.
func (r *Recorder) list(ctx context.Context, c client.WithWatch, namespace string) (string, error) {
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return "", fmt.Errorf("list leases: %w", err)
	}
	now := time.Now()
	for i := range list.Items {
		r.observe(&list.Items[i], now)
	}
	return list.ResourceVersion, nil
}

func watchLeases(ctx context.Context, c client.WithWatch, namespace, rv string) (watch.Interface, error) {
	w, err := c.Watch(ctx, &jumpstarterv1alpha1.LeaseList{}, client.InNamespace(namespace),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
	if err != nil {
		return nil, fmt.Errorf("watch leases: %w", err)
	}
	return w, nil
}

// consume observes the events of w until it closes or ctx ends. It returns the last
// resourceVersion seen, and whether the server said that version is too old to resume from.
func (r *Recorder) consume(ctx context.Context, w watch.Interface, rv string) (string, bool) {
	for {
		select {
		case <-ctx.Done():
			return rv, false
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv, false
			}
			if ev.Type == watch.Error {
				err := apierrors.FromObject(ev.Object)
				return rv, apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
			}
			l, isLease := ev.Object.(*jumpstarterv1alpha1.Lease)
			if !isLease {
				continue
			}
			rv = l.ResourceVersion
			if ev.Type != watch.Deleted {
				r.observe(l, time.Now())
			}
		}
	}
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
		if l.Status.BeginTime != nil {
			h.BeginStamp = l.Status.BeginTime.Time
			if l.Spec.Duration != nil {
				h.EndTime = l.Status.BeginTime.Add(l.Spec.Duration.Duration)
			}
		}
	}
	if l.Status.Ended && h.Ended.IsZero() {
		h.Ended = at
		if l.Status.EndTime != nil {
			h.EndStamp = l.Status.EndTime.Time
		}
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

// Gaps are the stretches of events the recorder could not see (see Recorder); the exclusivity
// check says nothing about them.
func (r *Recorder) Gaps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.gaps...)
}

// Restarts is how often the server closed the watch and the recorder resumed it.
func (r *Recorder) Restarts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restarts
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
