package plugin

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func releasedNode(name, at string) *v1.Node {
	w := ready(exporterNode(name, labNS))
	if at != "" {
		w = w.Annotation(jsv1alpha1.AnnotationLastReleased, at)
	}
	return w.Obj()
}

// TestScoreOrder runs Score and NormalizeScore through the framework and checks that the
// exporter released longest ago ranks first and a never-leased one beats them all.
func TestScoreOrder(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*v1.Node
		// want lists node names from best to worst; nodes in one inner slice tie.
		want [][]string
	}{
		{
			name: "longest rested first, never leased best",
			nodes: []*v1.Node{
				releasedNode("recent", "2026-11-20T10:00:00Z"),
				releasedNode("never", ""),
				releasedNode("old", "2026-01-01T00:00:00Z"),
				releasedNode("middle", "2026-06-01T00:00:00+02:00"),
			},
			want: [][]string{{"never"}, {"old"}, {"middle"}, {"recent"}},
		},
		{
			name: "released a second apart still ordered",
			nodes: []*v1.Node{
				releasedNode("later", "2026-11-20T10:00:01Z"),
				releasedNode("earlier", "2026-11-20T10:00:00Z"),
			},
			want: [][]string{{"earlier"}, {"later"}},
		},
		{
			name: "released a millisecond apart (the controller writes RFC 3339 with nanoseconds)",
			nodes: []*v1.Node{
				releasedNode("later", "2026-11-20T10:00:00.124000001Z"),
				releasedNode("earlier", "2026-11-20T10:00:00.123Z"),
			},
			want: [][]string{{"earlier"}, {"later"}},
		},
		{
			name: "extreme years do not overflow",
			nodes: []*v1.Node{
				releasedNode("y9999", "9999-12-31T23:59:59Z"),
				releasedNode("y0000", "0000-01-01T00:00:00Z"),
				releasedNode("never", ""),
			},
			want: [][]string{{"never"}, {"y0000"}, {"y9999"}},
		},
		{
			name: "unreadable annotation counts as never released",
			nodes: []*v1.Node{
				releasedNode("garbage", "yesterday"),
				releasedNode("old", "2020-01-01T00:00:00Z"),
			},
			want: [][]string{{"garbage"}, {"old"}},
		},
		{
			name: "all never leased tie",
			nodes: []*v1.Node{
				releasedNode("a", ""),
				releasedNode("b", ""),
			},
			want: [][]string{{"a", "b"}},
		},
		{
			name: "equal release times tie",
			nodes: []*v1.Node{
				releasedNode("a", "2026-11-20T10:00:00Z"),
				releasedNode("b", "2026-11-20T11:00:00+01:00"),
			},
			want: [][]string{{"a", "b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			scores, status := env.fw.RunScorePlugins(env.ctx, framework.NewCycleState(), placeholder("a").Obj(), nodeInfos(tt.nodes))
			if !status.IsSuccess() {
				t.Fatalf("RunScorePlugins: %v", status)
			}
			byNode := map[string]int64{}
			for _, s := range scores {
				if s.TotalScore < fwk.MinScore || s.TotalScore > fwk.MaxScore {
					t.Errorf("node %s score %d out of range", s.Name, s.TotalScore)
				}
				byNode[s.Name] = s.TotalScore
			}
			for i, group := range tt.want {
				for _, n := range group {
					if byNode[n] != byNode[group[0]] {
						t.Errorf("%s scores %d, %s scores %d; want a tie", n, byNode[n], group[0], byNode[group[0]])
					}
					if i > 0 && byNode[n] >= byNode[tt.want[i-1][0]] {
						t.Errorf("%s scores %d, not below %s (%d)", n, byNode[n], tt.want[i-1][0], byNode[tt.want[i-1][0]])
					}
				}
			}
			if best := tt.want[0][0]; byNode[best] != fwk.MaxScore {
				t.Errorf("best node %s scores %d, want %d", best, byNode[best], fwk.MaxScore)
			}
		})
	}
}

func TestScoreIgnoresOtherPods(t *testing.T) {
	env := newTestEnv(t)
	nodes := []*v1.Node{releasedNode("a", ""), releasedNode("b", "2026-11-20T10:00:00Z")}
	scores, status := env.fw.RunScorePlugins(env.ctx, framework.NewCycleState(), plainPod("web").Obj(), nodeInfos(nodes))
	if !status.IsSuccess() {
		t.Fatalf("RunScorePlugins: %v", status)
	}
	for _, s := range scores {
		if s.TotalScore != fwk.MinScore {
			t.Errorf("node %s scores %d for a non-placeholder pod, want %d", s.Name, s.TotalScore, fwk.MinScore)
		}
	}
}

func TestNormalizeScore(t *testing.T) {
	tests := []struct {
		name string
		raw  []int64
		want []int64
	}{
		{name: "empty", raw: nil, want: nil},
		{name: "single released", raw: []int64{1000}, want: []int64{100}},
		{name: "single never", raw: []int64{neverReleased}, want: []int64{100}},
		{name: "linear", raw: []int64{1000, 1100, 1050}, want: []int64{100, 0, 50}},
		{name: "never above the earliest", raw: []int64{neverReleased, 1000, 1100}, want: []int64{100, 99, 0}},
		{name: "one released, one never", raw: []int64{1000, neverReleased}, want: []int64{0, 100}},
	}
	pl := &Exporter{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores := make(fwk.NodeScoreList, len(tt.raw))
			for i, r := range tt.raw {
				scores[i] = fwk.NodeScore{Name: string(rune('a' + i)), Score: r}
			}
			if status := pl.NormalizeScore(t.Context(), nil, placeholder("a").Obj(), scores); !status.IsSuccess() {
				t.Fatal(status)
			}
			got := make([]int64, 0, len(scores))
			for _, s := range scores {
				got = append(got, s.Score)
			}
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("normalized %v to %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
}

func nodeInfos(nodes []*v1.Node) []fwk.NodeInfo {
	out := make([]fwk.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, nodeInfo(n))
	}
	return out
}
