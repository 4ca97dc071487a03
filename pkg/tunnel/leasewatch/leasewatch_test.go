package leasewatch

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/routertoken"
)

func lease(name, uid string, ended, deleting bool) *jumpstarterv1alpha1.Lease {
	l := &jumpstarterv1alpha1.Lease{}
	l.Namespace, l.Name, l.UID = "lab", name, types.UID(uid)
	l.Status.Ended = ended
	if deleting {
		now := metav1.NewTime(time.Now())
		l.DeletionTimestamp = &now
	}
	return l
}

func TestInformerEvents(t *testing.T) {
	i := &Informer{}
	var ended []routertoken.LeaseRef
	unsubscribe := i.Subscribe(func(r routertoken.LeaseRef) { ended = append(ended, r) })
	ref := func(name, uid string) routertoken.LeaseRef {
		return routertoken.LeaseRef{Namespace: "lab", Name: name, UID: types.UID(uid)}
	}
	steps := []struct {
		name      string
		do        func()
		active    map[[2]string]bool // name, uid -> active
		wantEnded []routertoken.LeaseRef
	}{
		{"added", func() { i.update(lease("a", "u1", false, false)) }, map[[2]string]bool{{"a", "u1"}: true, {"a", "u0"}: false}, nil},
		{"unrelated update", func() { i.update(lease("a", "u1", false, false)) }, map[[2]string]bool{{"a", "u1"}: true}, nil},
		{"ended", func() { i.update(lease("a", "u1", true, false)) }, map[[2]string]bool{{"a", "u1"}: false}, []routertoken.LeaseRef{ref("a", "u1")}},
		{"ended again is no news", func() { i.update(lease("a", "u1", true, false)) }, nil, nil},
		{"replaced by a new epoch", func() { i.update(lease("b", "u2", false, false)); i.update(lease("b", "u3", false, false)) },
			map[[2]string]bool{{"b", "u2"}: false, {"b", "u3"}: true}, []routertoken.LeaseRef{ref("b", "u2")}},
		{"being deleted", func() { i.update(lease("b", "u3", false, true)) }, map[[2]string]bool{{"b", "u3"}: false}, []routertoken.LeaseRef{ref("b", "u3")}},
		{"deleted while active", func() {
			i.update(lease("c", "u4", false, false))
			i.delete(toolscache.DeletedFinalStateUnknown{Key: "lab/c", Obj: lease("c", "u4", false, false)})
		}, map[[2]string]bool{{"c", "u4"}: false}, []routertoken.LeaseRef{ref("c", "u4")}},
	}
	for _, s := range steps {
		ended = nil
		s.do()
		for k, want := range s.active {
			if got := i.Active("lab", k[0], types.UID(k[1])); got != want {
				t.Errorf("%s: Active(%s, %s) = %v, want %v", s.name, k[0], k[1], got, want)
			}
		}
		if len(ended) != len(s.wantEnded) || (len(ended) > 0 && ended[0] != s.wantEnded[0]) {
			t.Errorf("%s: ended %v, want %v", s.name, ended, s.wantEnded)
		}
	}
	unsubscribe()
	ended = nil
	i.update(lease("d", "u5", false, false))
	i.update(lease("d", "u5", true, false))
	if len(ended) != 0 {
		t.Error("notified after unsubscribe")
	}
}

func TestSlim(t *testing.T) {
	l := lease("a", "u1", true, false)
	l.Spec.Tags = map[string]string{"big": "spec"}
	l.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "x"}}
	got, err := slim(l)
	if err != nil {
		t.Fatal(err)
	}
	s := got.(*jumpstarterv1alpha1.Lease)
	if s.Name != "a" || s.UID != "u1" || !s.Status.Ended || s.Spec.Tags != nil || s.ManagedFields != nil {
		t.Errorf("slim kept %+v", s)
	}
}

func TestMemoryAndAlwaysActive(t *testing.T) {
	m := NewMemory()
	r := routertoken.LeaseRef{Namespace: "lab", Name: "a", UID: "u1"}
	var ended int
	m.Subscribe(func(routertoken.LeaseRef) { ended++ })
	if m.Active(r.Namespace, r.Name, r.UID) {
		t.Error("unknown lease is active")
	}
	m.Start(r)
	if !m.Active(r.Namespace, r.Name, r.UID) {
		t.Error("started lease is not active")
	}
	m.End(routertoken.LeaseRef{Namespace: "lab", Name: "a", UID: "other"})
	if ended != 0 || !m.Active(r.Namespace, r.Name, r.UID) {
		t.Error("End of another epoch ended the lease")
	}
	m.End(r)
	if ended != 1 || m.Active(r.Namespace, r.Name, r.UID) {
		t.Errorf("after End: notified %d times, active %v", ended, m.Active(r.Namespace, r.Name, r.UID))
	}
	var w Watcher = AlwaysActive{}
	if !w.Active("x", "y", "z") {
		t.Error("AlwaysActive is not")
	}
	w.Subscribe(func(routertoken.LeaseRef) { t.Error("AlwaysActive notified") })()
}
