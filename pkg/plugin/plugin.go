package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/utils/clock"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "JumpstarterExporter"

// Reasons the Filter gives; they show up in the pod's FailedScheduling event.
const (
	ReasonNotExporter = "node is not an exporter"
	ReasonOffline     = "exporter offline"
	ReasonDisabled    = "exporter disabled"
	// ReasonHeldPrefix is followed by the name of the lease that holds the exporter.
	ReasonHeldPrefix = "exporter held by lease "
	// ReasonReservedFormat takes the namespace/name of the lease the exporter is reserved for.
	ReasonReservedFormat = "exporter reserved for lease %s, first in line"
)

// Exporter is the plugin. QueueSort is stateless; Score reads the release times the pod delete
// handler records (score.go); the queueing hints keep the wake state (see wake.go), which
// PreFilter reads as reservations for Filter (see reserve.go).
type Exporter struct {
	// nodeLister and podLister read the scheduler's informer cache. Queueing hints must not use
	// the scheduling snapshot: it is only consistent during a scheduling cycle. The pod lister
	// is kube-scheduler's own pod informer, which holds non-terminal pods only.
	nodeLister corelisters.NodeLister
	podLister  corelisters.PodLister
	// schedulerName is the profile's name: only pods that ask for it wait in this queue.
	schedulerName string
	// activator moves a pod to the active queue; the pod delete handler uses it, because no
	// queueing hint runs when an unscheduled pod is deleted.
	activator fwk.PodActivator
	// logger is for the pod delete handler, which runs outside any scheduler call.
	logger klog.Logger
	clock  clock.PassiveClock
	wake   wakeState
	// releases feeds Score: when each exporter was last released.
	releases releaseLog
}

var (
	_ fwk.QueueSortPlugin   = &Exporter{}
	_ fwk.PreEnqueuePlugin  = &Exporter{}
	_ fwk.PreFilterPlugin   = &Exporter{}
	_ fwk.FilterPlugin      = &Exporter{}
	_ fwk.ScorePlugin       = &Exporter{}
	_ fwk.ScoreExtensions   = &Exporter{}
	_ fwk.EnqueueExtensions = &Exporter{}
	_ fwk.SignPlugin        = &Exporter{}
)

// New builds the plugin. It takes no arguments: obj must be nil or an empty object.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	if err := validateNoArgs(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if h == nil || h.SharedInformerFactory() == nil {
		return nil, fmt.Errorf("%s: the framework handle has no shared informer factory", Name)
	}
	// Asking for the listers registers the informers before the factory starts; the scheduler
	// itself watches nodes and pods through the same factory (its pod informer is registered
	// first and filters out terminal pods), so this adds no watch.
	pods := h.SharedInformerFactory().Core().V1().Pods()
	pl := &Exporter{
		nodeLister:    h.SharedInformerFactory().Core().V1().Nodes().Lister(),
		podLister:     pods.Lister(),
		schedulerName: h.ProfileName(),
		activator:     h,
		logger:        klog.FromContext(ctx).WithValues("plugin", Name),
		clock:         clock.RealClock{},
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: pl.onPodDelete}); err != nil {
		return nil, fmt.Errorf("%s: watch pod deletions: %w", Name, err)
	}
	nodes := h.SharedInformerFactory().Core().V1().Nodes().Informer()
	if _, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: pl.onNodeDelete}); err != nil {
		return nil, fmt.Errorf("%s: watch node deletions: %w", Name, err)
	}
	return pl, nil
}

// Name returns the plugin's name.
func (pl *Exporter) Name() string { return Name }

// validateNoArgs accepts what kube-scheduler passes for a plugin without typed arguments: nil
// when the profile has no pluginConfig entry for it, or a *runtime.Unknown holding the raw
// args, which must then be empty ({} or null).
func validateNoArgs(obj runtime.Object) error {
	if obj == nil {
		return nil
	}
	unknown, ok := obj.(*runtime.Unknown)
	if !ok {
		return fmt.Errorf("takes no arguments, got %T", obj)
	}
	raw := bytes.TrimSpace(unknown.Raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("decoding arguments: %w", err)
	}
	if len(fields) != 0 {
		return errors.New("takes no arguments, got a non-empty args object")
	}
	return nil
}

// isPlaceholder tells whether a pod stands for a lease. Only the label's presence counts.
func isPlaceholder(pod *v1.Pod) bool {
	_, ok := pod.Labels[jsv1alpha1.LabelLeaseName]
	return ok
}

// preemptionFloor is the priority a lease must exceed to preempt the placeholder: its own
// priority under spot access. A lease that is not spot access is never preempted, whatever
// its priority: access policies promise it its exporter until it ends.
func preemptionFloor(holder *v1.Pod) int32 {
	if holder.Labels[jsv1alpha1.LabelSpotAccess] != "true" {
		return math.MaxInt32
	}
	return corev1helpers.PodPriority(holder)
}

// allowsDisabled tells whether a placeholder pod may be granted a disabled exporter.
func allowsDisabled(pod *v1.Pod) bool {
	return pod.Annotations[jsv1alpha1.AnnotationAllowDisabled] == "true"
}

// leaseOf names the lease a placeholder pod stands for, for messages.
func leaseOf(pod *v1.Pod) string {
	if name := pod.Labels[jsv1alpha1.LabelLeaseName]; name != "" {
		return name
	}
	return pod.Name
}
