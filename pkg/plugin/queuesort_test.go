package plugin

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func TestLess(t *testing.T) {
	queued := func(w *st.PodWrapper, created time.Time, queuedAt time.Time) *framework.QueuedPodInfo {
		return &framework.QueuedPodInfo{
			PodInfo:        mustPodInfo(t, w.CreationTimestamp(metav1.NewTime(created)).Obj()),
			QueueingParams: framework.QueueingParams{Timestamp: queuedAt},
		}
	}
	tests := []struct {
		name string
		a, b *framework.QueuedPodInfo
		want bool
	}{
		{
			name: "higher priority first, even if created later",
			a:    queued(placeholder("a").Priority(100), t0.Add(time.Hour), t0.Add(time.Hour)),
			b:    queued(placeholder("b").Priority(10), t0, t0),
			want: true,
		},
		{
			name: "lower priority after",
			a:    queued(placeholder("a").Priority(10), t0, t0),
			b:    queued(placeholder("b").Priority(100), t0.Add(time.Hour), t0.Add(time.Hour)),
			want: false,
		},
		{
			name: "equal priority: created first wins although retried (queued) later",
			a:    queued(placeholder("a"), t0, t0.Add(time.Minute)),
			b:    queued(placeholder("b"), t0.Add(time.Second), t0),
			want: true,
		},
		{
			name: "equal priority: created later loses although queued earlier",
			a:    queued(placeholder("a"), t0.Add(time.Second), t0),
			b:    queued(placeholder("b"), t0, t0.Add(time.Minute)),
			want: false,
		},
		{
			name: "same creation second: namespace/name",
			a:    queued(placeholder("a"), t0, t0.Add(time.Minute)),
			b:    queued(placeholder("b"), t0, t0),
			want: true,
		},
		{
			name: "same creation second: namespace before name",
			a:    queued(placeholder("z").Namespace("alpha"), t0, t0),
			b:    queued(placeholder("a").Namespace("beta"), t0, t0),
			want: true,
		},
		{
			name: "irreflexive",
			a:    queued(placeholder("a"), t0, t0),
			b:    queued(placeholder("a"), t0, t0),
			want: false,
		},
		{
			name: "other pods are ordered the same way",
			a:    queued(plainPod("web"), t0, t0.Add(time.Minute)),
			b:    queued(placeholder("b"), t0.Add(time.Second), t0),
			want: true,
		},
	}
	pl := &Exporter{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pl.Less(tt.a, tt.b); got != tt.want {
				t.Errorf("Less = %v, want %v", got, tt.want)
			}
			// The wake hints choose leases with podBefore: it must agree with the queue.
			if got := podBefore(tt.a.Pod, tt.b.Pod); got != tt.want {
				t.Errorf("podBefore = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLessSortsFIFO sorts a queue whose timestamps were shuffled by retries: the order must be
// priority, then request (creation) order.
func TestLessSortsFIFO(t *testing.T) {
	mk := func(lease string, prio int32, createdSec, queuedSec int) fwk.QueuedEntityInfo {
		return &framework.QueuedPodInfo{
			PodInfo: mustPodInfo(t, placeholder(lease).Priority(prio).
				CreationTimestamp(metav1.NewTime(t0.Add(time.Duration(createdSec)*time.Second))).Obj()),
			QueueingParams: framework.QueueingParams{Timestamp: t0.Add(time.Duration(queuedSec) * time.Second)},
		}
	}
	queue := []fwk.QueuedEntityInfo{
		mk("l3", 0, 3, 10),
		mk("l1", 0, 1, 30),
		mk("urgent", 5, 9, 40),
		mk("l2", 0, 2, 20),
		mk("l0", 0, 0, 50),
	}
	pl := &Exporter{}
	slices.SortFunc(queue, func(a, b fwk.QueuedEntityInfo) int {
		switch {
		case pl.Less(a, b):
			return -1
		case pl.Less(b, a):
			return 1
		}
		return 0
	})
	var got []string
	for _, e := range queue {
		got = append(got, podOf(e).Name)
	}
	want := []string{"lease-urgent", "lease-l0", "lease-l1", "lease-l2", "lease-l3"}
	if !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}
