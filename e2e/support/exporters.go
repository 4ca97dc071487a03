package support

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// HeartbeatInterval is how often the fleet refreshes lastSeen of its online exporters.
const HeartbeatInterval = 10 * time.Second

// heartbeatWorkers is how many heartbeats go out at once: one after the other, 500 exporters on
// a busy apiserver (100 ms a request) would take 50 s a round, close to the 60 s after which an
// exporter counts as offline; real agents do not wait for each other.
const heartbeatWorkers = 16

// Fleet plays the agents of exporters until the real agent exists: it creates Exporters and
// keeps the online ones online with status patches, as an agent's Status stream would.
type Fleet struct {
	client client.Client
	// mu guards online. A beat holds it for reading while it checks and patches, so that
	// Silence and SetOnline, which take it for writing, wait for a beat in flight.
	mu     sync.RWMutex
	online map[types.NamespacedName]bool
}

// NewFleet returns a fleet; call Run to keep its exporters' heartbeats going.
func NewFleet(c client.Client) *Fleet {
	return &Fleet{client: c, online: map[types.NamespacedName]bool{}}
}

// Create makes an exporter with labels and reports it online (or not).
func (f *Fleet) Create(ctx context.Context, namespace, name string, labels map[string]string, online, enabled bool) error {
	e := &jumpstarterv1alpha1.Exporter{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec:       jumpstarterv1alpha1.ExporterSpec{Enabled: ptr.To(enabled)},
	}
	if err := f.client.Create(ctx, e); err != nil {
		return fmt.Errorf("create exporter %s/%s: %w", namespace, name, err)
	}
	return f.SetOnline(ctx, namespace, name, online)
}

// SetOnline reports the exporter online (heartbeats continue) or offline (they stop, and the
// exporter says so).
func (f *Fleet) SetOnline(ctx context.Context, namespace, name string, online bool) error {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	f.mu.Lock()
	f.online[key] = online
	f.mu.Unlock()
	return f.report(ctx, key, online)
}

// Silence stops the heartbeats without the exporter saying goodbye, as a crash would. No beat
// lands after it returns.
func (f *Fleet) Silence(namespace, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.online, types.NamespacedName{Namespace: namespace, Name: name})
}

func (f *Fleet) report(ctx context.Context, key types.NamespacedName, online bool) error {
	e := &jumpstarterv1alpha1.Exporter{}
	if err := f.client.Get(ctx, key, e); err != nil {
		return fmt.Errorf("get exporter %s: %w", key, err)
	}
	base := e.DeepCopy()
	onlineStatus, status := metav1.ConditionFalse, jumpstarterv1alpha1.ExporterStatusOffline
	if online {
		onlineStatus, status = metav1.ConditionTrue, jumpstarterv1alpha1.ExporterStatusAvailable
	}
	meta.SetStatusCondition(&e.Status.Conditions, metav1.Condition{Type: jumpstarterv1alpha1.ExporterConditionRegistered, Status: metav1.ConditionTrue, Reason: "Registered"})
	meta.SetStatusCondition(&e.Status.Conditions, metav1.Condition{Type: jumpstarterv1alpha1.ExporterConditionOnline, Status: onlineStatus, Reason: "Heartbeat"})
	e.Status.ExporterStatusValue = status
	e.Status.LastSeen = ptr.To(metav1.Now())
	if err := f.client.Status().Patch(ctx, e, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("report status of exporter %s: %w", key, err)
	}
	return nil
}

// beat refreshes lastSeen with a single status patch, the one write an agent's heartbeat costs;
// the conditions stay as report set them. (A Get and a Patch per beat would double the fleet's
// load on the apiserver, which in a load test is not the system's own.)
func (f *Fleet) beat(ctx context.Context, key types.NamespacedName) error {
	// The round collected its keys up to heartbeatSpread ago: skip an exporter silenced or
	// set offline since, or a late beat would undo a test's lastSeen in the past.
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !f.online[key] {
		return nil
	}
	patch := fmt.Appendf(nil, `{"status":{"lastSeen":%q}}`, metav1.Now().UTC().Format(time.RFC3339))
	e := &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := f.client.Status().Patch(ctx, e, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("heartbeat of exporter %s: %w", key, err)
	}
	return nil
}

// Run refreshes the heartbeats of the online exporters until ctx ends.
func (f *Fleet) Run(ctx context.Context) {
	ticker := time.NewTicker(HeartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		f.mu.RLock()
		var keys []types.NamespacedName
		for k, online := range f.online {
			if online {
				keys = append(keys, k)
			}
		}
		f.mu.RUnlock()
		f.heartbeat(ctx, keys)
	}
}

// heartbeatSpread is the part of the interval over which a round's beats are spread.
const heartbeatSpread = HeartbeatInterval * 9 / 10

// heartbeat sends one beat per exporter, spread evenly over heartbeatSpread and at most
// heartbeatWorkers at a time. Real agents beat each at its own phase: a burst of every
// exporter's beat at once every interval is a load no fleet puts on the API server, and it
// showed in the benchmark's p99s. A missed beat is retried on the next tick.
func (f *Fleet) heartbeat(ctx context.Context, keys []types.NamespacedName) {
	start := time.Now()
	next := make(chan types.NamespacedName)
	var wg sync.WaitGroup
	for range min(heartbeatWorkers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				_ = f.beat(ctx, k)
			}
		}()
	}
	for i, k := range keys {
		at := start.Add(heartbeatSpread * time.Duration(i) / time.Duration(len(keys)))
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(at)):
		}
		next <- k
	}
	close(next)
	wg.Wait()
}
