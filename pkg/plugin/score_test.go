package plugin

import (
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// releasedNode is an exporter's node, released at the given RFC 3339 time ("" never).
type releasedNode struct{ name, at string }

// setUp records the releases in the plugin and returns the nodes.
func setUp(t *testing.T, pl *Exporter, nodes []releasedNode) []*v1.Node {
	t.Helper()
	out := make([]*v1.Node, 0, len(nodes))
	for _, n := range nodes {
		if n.at != "" {
			at, err := time.Parse(time.RFC3339Nano, n.at)
			if err != nil {
				t.Fatal(err)
			}
			pl.releases.record(n.name, at)
		}
		out = append(out, ready(exporterNode(n.name, labNS)).Obj())
	}
	return out
}

// TestScoreOrder runs Score and NormalizeScore through the framework and checks that the
// exporter released longest ago ranks first and a never-leased one beats them all.
func TestScoreOrder(t *testing.T) {
	tests := []struct {
		name  string
		nodes []releasedNode
		// want lists node names from best to worst; nodes in one inner slice tie.
		want [][]string
	}{
		{
			name: "longest rested first, never leased best",
			nodes: []releasedNode{
				{"recent", "2026-11-20T10:00:00Z"},
				{"never", ""},
				{"old", "2026-01-01T00:00:00Z"},
				{"middle", "2026-06-01T00:00:00+02:00"},
			},
			want: [][]string{{"never"}, {"old"}, {"middle"}, {"recent"}},
		},
		{
			name: "released a second apart still ordered",
			nodes: []releasedNode{
				{"later", "2026-11-20T10:00:01Z"},
				{"earlier", "2026-11-20T10:00:00Z"},
			},
			want: [][]string{{"earlier"}, {"later"}},
		},
		{
			name: "released a millisecond apart",
			nodes: []releasedNode{
				{"later", "2026-11-20T10:00:00.124000001Z"},
				{"earlier", "2026-11-20T10:00:00.123Z"},
			},
			want: [][]string{{"earlier"}, {"later"}},
		},
		{
			name: "extreme years do not overflow",
			nodes: []releasedNode{
				{"y9999", "9999-12-31T23:59:59Z"},
				{"y0000", "0000-01-01T00:00:00Z"},
				{"never", ""},
			},
			want: [][]string{{"never"}, {"y0000"}, {"y9999"}},
		},
		{
			name: "all never leased tie",
			nodes: []releasedNode{
				{"a", ""},
				{"b", ""},
			},
			want: [][]string{{"a", "b"}},
		},
		{
			name: "equal release times tie",
			nodes: []releasedNode{
				{"a", "2026-11-20T10:00:00Z"},
				{"b", "2026-11-20T11:00:00+01:00"},
			},
			want: [][]string{{"a", "b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			nodes := setUp(t, env.plugin, tt.nodes)
			scores, status := env.fw.RunScorePlugins(env.ctx, framework.NewCycleState(), placeholder("a").Obj(), nodeInfos(nodes))
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
	nodes := setUp(t, env.plugin, []releasedNode{{"a", ""}, {"b", "2026-11-20T10:00:00Z"}})
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

// TestReleaseRecordedOnDelete checks that the pod delete handler records a release only for a
// granted (Running) placeholder leaving its exporter.
func TestReleaseRecordedOnDelete(t *testing.T) {
	tests := []struct {
		name         string
		deleted      any
		wantReleased bool
	}{
		{"granted placeholder", placeholder("a").Node("e1").Phase(v1.PodRunning).Obj(), true},
		{"granted placeholder, tombstone", cache.DeletedFinalStateUnknown{Key: "lab/lease-a", Obj: placeholder("a").Node("e1").Phase(v1.PodRunning).Obj()}, true},
		{"bound, never accepted", placeholder("a").Node("e1").Obj(), false},
		{"refused by the node agent", placeholder("a").Node("e1").Phase(v1.PodFailed).Obj(), false},
		{"not a placeholder", plainPod("web").Node("e1").Phase(v1.PodRunning).Obj(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.plugin.onPodDelete(tt.deleted)
			at, released := env.plugin.releases.lastRelease("e1")
			if released != tt.wantReleased {
				t.Fatalf("released = %v, want %v", released, tt.wantReleased)
			}
			if released && at != t0.UnixMilli() {
				t.Errorf("released at %d, want %d (the plugin's clock)", at, t0.UnixMilli())
			}
		})
	}
}

func TestReleaseForgottenWhenTheNodeGoes(t *testing.T) {
	deleted := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "e1"}}
	tests := []struct {
		name    string
		deleted any
		want    bool // e1's release still known
	}{
		{"node deleted", deleted, false},
		{"node deleted, tombstone", cache.DeletedFinalStateUnknown{Key: "e1", Obj: deleted}, false},
		{"another node deleted", &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "e2"}}, true},
		{"not a node", plainPod("web").Obj(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.plugin.onPodDelete(placeholder("a").Node("e1").Phase(v1.PodRunning).Obj())
			env.plugin.onNodeDelete(tt.deleted)
			if _, known := env.plugin.releases.lastRelease("e1"); known != tt.want {
				t.Errorf("release of e1 known = %v, want %v", known, tt.want)
			}
		})
	}
}
