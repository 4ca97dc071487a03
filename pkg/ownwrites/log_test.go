package ownwrites

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func cm(rv, data string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "x", ResourceVersion: rv},
		Data:       map[string]string{"v": data},
	}
}

var key = types.NamespacedName{Namespace: "ns", Name: "x"}

func TestFresh(t *testing.T) {
	type write struct{ replaced, rv, data string }
	tests := []struct {
		name     string
		writes   []write
		cached   string // resourceVersion the cache shows
		wantData string
		wantKept bool // the record survives the read
	}{
		{name: "nothing written", cached: "1", wantData: "cache"},
		{name: "cache behind one write", writes: []write{{"1", "2", "w2"}}, cached: "1", wantData: "w2", wantKept: true},
		{name: "cache caught up", writes: []write{{"1", "2", "w2"}}, cached: "2", wantData: "cache"},
		{name: "someone else wrote later", writes: []write{{"1", "2", "w2"}}, cached: "3", wantData: "cache"},
		{name: "cache two writes behind", writes: []write{{"1", "2", "w2"}, {"2", "3", "w3"}}, cached: "1", wantData: "w3", wantKept: true},
		{name: "cache one of two writes behind", writes: []write{{"1", "2", "w2"}, {"2", "3", "w3"}}, cached: "2", wantData: "w3", wantKept: true},
		{
			name:   "a write on top of another's version restarts the chain",
			writes: []write{{"1", "2", "w2"}, {"5", "6", "w6"}}, cached: "1", wantData: "cache",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Log[*corev1.ConfigMap]
			for _, w := range tt.writes {
				l.Wrote(key, w.replaced, cm(w.rv, w.data))
			}
			got := l.Fresh(key, cm(tt.cached, "cache"))
			if got.Data["v"] != tt.wantData {
				t.Errorf("Fresh = %q, want %q", got.Data["v"], tt.wantData)
			}
			if kept := l.Len() == 1; kept != tt.wantKept {
				t.Errorf("record kept = %v, want %v", kept, tt.wantKept)
			}
		})
	}
}

func TestFreshReturnsACopy(t *testing.T) {
	var l Log[*corev1.ConfigMap]
	written := cm("2", "w2")
	l.Wrote(key, "1", written)
	written.Data["v"] = "changed by the caller after the write"
	got := l.Fresh(key, cm("1", "cache"))
	got.Data["v"] = "changed by the reader"
	if again := l.Fresh(key, cm("1", "cache")); again.Data["v"] != "w2" {
		t.Errorf("the record changed with its copies: %q", again.Data["v"])
	}
}

func TestForget(t *testing.T) {
	var l Log[*corev1.ConfigMap]
	l.Wrote(key, "1", cm("2", "w2"))
	l.Forget(key)
	if got := l.Fresh(key, cm("1", "cache")); got.Data["v"] != "cache" {
		t.Errorf("Fresh after Forget = %q, want the cache's", got.Data["v"])
	}
}
