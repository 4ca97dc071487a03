package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/apis/v1alpha1"
)

const (
	// HeartbeatInterval is how often the simulated agent reports its exporters.
	HeartbeatInterval = 10 * time.Second
	// heartbeatReason is the reason of the conditions the simulated agent sets.
	heartbeatReason  = "Heartbeat"
	heartbeatMessage = "simulated by the lab demo agent"
)

// RunHeartbeat plays the demo exporters' agent: it reports them Registered, Online and
// Available every HeartbeatInterval until ctx ends. Failures are logged and retried.
func RunHeartbeat(ctx context.Context, cfg *rest.Config) error {
	logger := klog.FromContext(ctx)
	ticker := time.NewTicker(HeartbeatInterval)
	defer ticker.Stop()
	for {
		if err := Beat(ctx, cfg); err != nil && ctx.Err() == nil {
			logger.Error(err, "Heartbeat failed")
		} else if err == nil {
			logger.V(1).Info("Heartbeat sent", "exporters", len(Exporters))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Beat reports every demo exporter once.
func Beat(ctx context.Context, cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	var errs []error
	for _, name := range exporterNames() {
		if err := beatOne(ctx, dyn, name, time.Now()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func beatOne(ctx context.Context, dyn dynamic.Interface, name string, now time.Time) error {
	ri := dyn.Resource(exporterGVR).Namespace(Namespace)
	current, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("heartbeat exporter %s/%s: %w", Namespace, name, err)
	}
	var existing v1alpha1.Exporter
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(current.Object, &existing); err != nil {
		return fmt.Errorf("heartbeat exporter %s/%s: %w", Namespace, name, err)
	}
	status := heartbeatStatus(existing.Status.Conditions, existing.Generation, now)
	obj, err := toApplyObject(&v1alpha1.Exporter{
		TypeMeta:   typeMeta("Exporter"),
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Status:     status,
	}, "spec")
	if err != nil {
		return err
	}
	if _, err := ri.ApplyStatus(ctx, name, obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("heartbeat exporter %s/%s: %w", Namespace, name, err)
	}
	return nil
}

// heartbeatStatus is the status the simulated agent owns: Registered and Online conditions
// (keeping their transition times while they stay True), lastSeen and exporterStatus.
func heartbeatStatus(existing []metav1.Condition, generation int64, now time.Time) v1alpha1.ExporterStatus {
	seen := metav1.NewTime(now.Truncate(time.Second))
	var conds []metav1.Condition
	for _, t := range []string{v1alpha1.ExporterConditionRegistered, v1alpha1.ExporterConditionOnline} {
		c := metav1.Condition{
			Type:               t,
			Status:             metav1.ConditionTrue,
			ObservedGeneration: generation,
			LastTransitionTime: seen,
			Reason:             heartbeatReason,
			Message:            heartbeatMessage,
		}
		if old := meta.FindStatusCondition(existing, t); old != nil && old.Status == metav1.ConditionTrue {
			c.LastTransitionTime = old.LastTransitionTime
		}
		conds = append(conds, c)
	}
	return v1alpha1.ExporterStatus{
		Conditions:          conds,
		LastSeen:            &seen,
		ExporterStatusValue: v1alpha1.ExporterStatusAvailable,
	}
}
