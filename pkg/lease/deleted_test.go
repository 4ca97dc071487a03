package lease

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// An ended lease is reconciled again before the cache shows its placeholder gone: the
// placeholder it deleted is not deleted a second time, a new one of the same name is.
func TestDeletePlaceholderOnce(t *testing.T) {
	scheme, err := newTestScheme()
	if err != nil {
		t.Fatal(err)
	}
	deletes := 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			deletes++
			return c.Delete(ctx, obj, opts...)
		},
	}).Build()
	r := &Reconciler{Client: c}
	key := types.NamespacedName{Namespace: "lab", Name: "l1"}
	placeholder := func(uid types.UID) {
		t.Helper()
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: PlaceholderName("l1"), UID: uid}}
		if err := c.Create(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name        string
		pod         types.UID // created before the step; "" for none
		wantDeletes int
	}{
		{name: "first end deletes", pod: "u1", wantDeletes: 1},
		{name: "no placeholder", wantDeletes: 1},
		{name: "stale copy of the deleted pod", pod: "u1", wantDeletes: 1},
		{name: "a new placeholder of the same name", pod: "u2", wantDeletes: 2},
	}
	for _, s := range steps {
		if s.pod != "" {
			placeholder(s.pod)
		}
		if err := r.deletePlaceholder(context.Background(), key); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if deletes != s.wantDeletes {
			t.Errorf("%s: %d deletes, want %d", s.name, deletes, s.wantDeletes)
		}
		// Whatever this step left behind goes, as the watch would eventually show.
		_ = c.DeleteAllOf(context.Background(), &corev1.Pod{}, client.InNamespace("lab"))
	}
}
