package accesspolicy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func policy(name string, exporters map[string]string, rules ...jumpstarterv1alpha1.Policy) jumpstarterv1alpha1.ExporterAccessPolicy {
	return jumpstarterv1alpha1.ExporterAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: jumpstarterv1alpha1.ExporterAccessPolicySpec{
			ExporterSelector: metav1.LabelSelector{MatchLabels: exporters},
			Policies:         rules,
		},
	}
}

func rule(priority int, spot bool, maximum time.Duration, clients ...map[string]string) jumpstarterv1alpha1.Policy {
	r := jumpstarterv1alpha1.Policy{Priority: priority, SpotAccess: spot}
	if maximum != 0 {
		r.MaximumDuration = &metav1.Duration{Duration: maximum}
	}
	for _, c := range clients {
		r.From = append(r.From, jumpstarterv1alpha1.From{ClientSelector: metav1.LabelSelector{MatchLabels: c}})
	}
	return r
}

var (
	admin = map[string]string{"user-type": "admin"}
	ci    = map[string]string{"user-type": "ci"}
	dev   = map[string]string{"user-type": "dev"}

	rpi4 = labels.Set{"board": "rpi4"}
	j784 = labels.Set{"board": "j784"}

	// The upstream documentation's example: admins first, then CI for up to 12 h, then
	// developers under spot access.
	labPolicies = []jumpstarterv1alpha1.ExporterAccessPolicy{
		policy("rpi", map[string]string{"board": "rpi4"},
			rule(20, false, 0, admin),
			rule(10, false, 12*time.Hour, ci),
			rule(5, true, 0, dev)),
		policy("everything", nil, rule(1, true, 0, ci)),
	}
)

func TestBest(t *testing.T) {
	tests := []struct {
		name     string
		policies []jumpstarterv1alpha1.ExporterAccessPolicy
		client   map[string]string
		exporter labels.Set
		duration time.Duration
		wantOK   bool
		want     Rule // Policy, Index, Priority, Spot compared
	}{
		{name: "no policies open everything", client: dev, exporter: rpi4, duration: time.Hour, wantOK: true},
		{name: "admin", policies: labPolicies, client: admin, exporter: rpi4, duration: 48 * time.Hour,
			wantOK: true, want: Rule{Policy: "rpi", Index: 0, Priority: 20}},
		{name: "ci within its maximum beats its spot rule", policies: labPolicies, client: ci, exporter: rpi4, duration: time.Hour,
			wantOK: true, want: Rule{Policy: "rpi", Index: 1, Priority: 10}},
		{name: "ci over its maximum falls back to spot", policies: labPolicies, client: ci, exporter: rpi4, duration: 13 * time.Hour,
			wantOK: true, want: Rule{Policy: "everything", Index: 0, Priority: 1, Spot: true}},
		{name: "dev under spot access", policies: labPolicies, client: dev, exporter: rpi4, duration: time.Hour,
			wantOK: true, want: Rule{Policy: "rpi", Index: 2, Priority: 5, Spot: true}},
		{name: "dev has nothing on another board", policies: labPolicies, client: dev, exporter: j784, duration: time.Hour},
		{name: "client without labels", policies: labPolicies, client: nil, exporter: rpi4, duration: time.Hour},
		{name: "empty client selector matches every client",
			policies: []jumpstarterv1alpha1.ExporterAccessPolicy{policy("all", nil, rule(3, false, 0, map[string]string{}))},
			client:   nil, exporter: j784, duration: time.Hour, wantOK: true, want: Rule{Policy: "all", Priority: 3}},
		{name: "a rule without from selects nobody",
			policies: []jumpstarterv1alpha1.ExporterAccessPolicy{policy("none", nil, rule(3, false, 0))},
			client:   admin, exporter: rpi4, duration: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			access, err := ForClient(tt.policies, tt.client)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := access.Best(tt.exporter, tt.duration)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if got.Policy != tt.want.Policy || got.Index != tt.want.Index || got.Priority != tt.want.Priority || got.Spot != tt.want.Spot {
				t.Errorf("best rule = %s priority %d spot %v, want %s priority %d spot %v",
					got, got.Priority, got.Spot, tt.want, tt.want.Priority, tt.want.Spot)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	split := []jumpstarterv1alpha1.ExporterAccessPolicy{
		policy("rpi", map[string]string{"board": "rpi4"}, rule(20, false, 0, ci)),
		policy("j784", map[string]string{"board": "j784"}, rule(30, true, 0, ci), rule(10, false, 0, ci)),
		policy("spot", map[string]string{"site": "lab2"}, rule(50, true, 0, ci)),
	}
	tests := []struct {
		name       string
		policies   []jumpstarterv1alpha1.ExporterAccessPolicy
		candidates []labels.Set
		duration   time.Duration
		wantOK     bool
		want       Decision
		selectors  []string
	}{
		{name: "no policies", candidates: []labels.Set{rpi4}, wantOK: true},
		{name: "no candidates", policies: split},
		{name: "not spot wins over a higher spot priority; the highest of its kind", policies: split,
			candidates: []labels.Set{rpi4, j784}, wantOK: true, want: Decision{Priority: 20},
			selectors: []string{"board=rpi4", "board=j784"}},
		{name: "one board", policies: split, candidates: []labels.Set{j784}, wantOK: true, want: Decision{Priority: 10},
			selectors: []string{"board=rpi4", "board=j784"}},
		{name: "spot only", policies: split, candidates: []labels.Set{{"site": "lab2"}}, wantOK: true,
			want: Decision{Priority: 50, Spot: true}, selectors: []string{"board=j784", "site=lab2"}},
		{name: "too long for every rule", policies: labPolicies[:1], candidates: []labels.Set{rpi4},
			duration: 13 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			access, err := ForClient(tt.policies, ci)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := access.Decide(tt.candidates, tt.duration)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if got.Priority != tt.want.Priority || got.Spot != tt.want.Spot {
				t.Errorf("decision priority %d spot %v, want %d %v", got.Priority, got.Spot, tt.want.Priority, tt.want.Spot)
			}
			var selectors []string
			for _, s := range got.ExporterSelectors {
				selectors = append(selectors, metav1.FormatLabelSelector(&s))
			}
			if strings.Join(selectors, " ") != strings.Join(tt.selectors, " ") {
				t.Errorf("exporter selectors %q, want %q", selectors, tt.selectors)
			}
		})
	}
}

func TestForClientNamesABrokenSelectorAndKeepsTheRest(t *testing.T) {
	broken := policy("broken", nil, rule(1, false, 0, admin))
	broken.Spec.Policies[0].From[0].ClientSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}
	access, err := ForClient([]jumpstarterv1alpha1.ExporterAccessPolicy{broken, labPolicies[0]}, admin)
	if err == nil || !strings.Contains(err.Error(), "exporteraccesspolicy broken: spec.policies[0].from[0].clientSelector") {
		t.Errorf("error %v does not name the broken field", err)
	}
	if r, ok := access.Best(rpi4, time.Hour); !ok || r.Policy != "rpi" {
		t.Errorf("the valid policy no longer applies: %v %v", r, ok)
	}
	if _, ok := access.Best(j784, time.Hour); ok {
		t.Error("the broken rule opened an exporter")
	}
}

func TestTooShort(t *testing.T) {
	access, err := ForClient(labPolicies, ci)
	if err != nil {
		t.Fatal(err)
	}
	if got := access.TooShort(rpi4, 13*time.Hour); len(got) != 1 || got[0].String() != "exporteraccesspolicy rpi spec.policies[1]" || got[0].MaximumDuration != 12*time.Hour {
		t.Errorf("TooShort = %v", got)
	}
	if got := access.TooShort(rpi4, time.Hour); len(got) != 0 {
		t.Errorf("TooShort for a short lease = %v", got)
	}
}
