package controllersvc

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/routers"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// stubLeases stands in for package legacylease.
type stubLeases struct{}

func (stubLeases) GetLease(context.Context, *jumpstarterv1.GetLeaseRequest) (*jumpstarterv1.GetLeaseResponse, error) {
	return &jumpstarterv1.GetLeaseResponse{Conditions: []*jumpstarterv1.Condition{{Type: new(string)}}}, nil
}

func (stubLeases) RequestLease(context.Context, *jumpstarterv1.RequestLeaseRequest) (*jumpstarterv1.RequestLeaseResponse, error) {
	return &jumpstarterv1.RequestLeaseResponse{Name: "from-stub"}, nil
}

func (stubLeases) ReleaseLease(context.Context, *jumpstarterv1.ReleaseLeaseRequest) (*jumpstarterv1.ReleaseLeaseResponse, error) {
	return &jumpstarterv1.ReleaseLeaseResponse{}, nil
}

func (stubLeases) ListLeases(context.Context, *jumpstarterv1.ListLeasesRequest) (*jumpstarterv1.ListLeasesResponse, error) {
	return &jumpstarterv1.ListLeasesResponse{Names: []string{"from-stub"}}, nil
}

func TestLegacyLeaseMethods(t *testing.T) {
	t.Run("promoted from Config.Leases", func(t *testing.T) {
		env := newEnv(t, nil, func(c *Config) { c.Leases = stubLeases{} })
		ctx := asClient(context.Background(), "alice")
		if resp, err := env.ctl.RequestLease(ctx, &jumpstarterv1.RequestLeaseRequest{}); err != nil || resp.GetName() != "from-stub" {
			t.Errorf("RequestLease = %v, %v", resp, err)
		}
		if resp, err := env.ctl.ListLeases(ctx, &jumpstarterv1.ListLeasesRequest{}); err != nil || len(resp.GetNames()) != 1 {
			t.Errorf("ListLeases = %v, %v", resp, err)
		}
		if _, err := env.ctl.GetLease(ctx, &jumpstarterv1.GetLeaseRequest{}); err != nil {
			t.Errorf("GetLease: %v", err)
		}
		if _, err := env.ctl.ReleaseLease(ctx, &jumpstarterv1.ReleaseLeaseRequest{}); err != nil {
			t.Errorf("ReleaseLease: %v", err)
		}
	})
	t.Run("unimplemented without", func(t *testing.T) {
		env := newEnv(t, nil)
		_, err := env.ctl.ListLeases(asClient(context.Background(), "alice"), &jumpstarterv1.ListLeasesRequest{})
		wantStatus(t, err, codes.Unimplemented, "ListLeases")
	})
}

func TestNewChecksConfig(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	table := &routers.Table{}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no client", Config{Notifier: NewNotifier(), Routers: table, Tokens: failingMinter{}}, "Config.Client"},
		{"no notifier", Config{Client: c, Routers: table, Tokens: failingMinter{}}, "Config.Notifier"},
		{"no routers", Config{Client: c, Notifier: NewNotifier(), Tokens: failingMinter{}}, "Config.Routers"},
		{"no tokens", Config{Client: c, Notifier: NewNotifier(), Routers: table}, "Config.Tokens"},
		{"negative heartbeat", Config{Client: c, Notifier: NewNotifier(), Routers: table, Tokens: failingMinter{}, HeartbeatInterval: -1}, "HeartbeatInterval"},
		{"bad dial wait", Config{Client: c, Notifier: NewNotifier(), Routers: table, Tokens: failingMinter{}, DialWait: Backoff{Initial: time.Second, Max: time.Millisecond}}, "DialWait"},
		{"defaults", Config{Client: c, Notifier: NewNotifier(), Routers: table, Tokens: failingMinter{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.heartbeatInterval != DefaultHeartbeatInterval || s.dialWait != DefaultDialWait() || s.clock == nil || s.LegacyLeases == nil {
					t.Errorf("defaults not applied: %+v", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestNotifierRoutesLeaseEvents(t *testing.T) {
	n := NewNotifier()
	e1 := types.NamespacedName{Namespace: ns, Name: "e1"}
	e2 := types.NamespacedName{Namespace: ns, Name: "e2"}
	ch1, stop1 := n.subscribe(e1)
	defer stop1()
	ch2, stop2 := n.subscribe(e2)
	defer stop2()
	lease := newLease("l1", "alice", granted("e1"))
	moved := lease.DeepCopy()
	moved.Status.ExporterRef = &corev1.LocalObjectReference{Name: "e2"}
	pending := newLease("l2", "alice")

	drain := func() (bool, bool) {
		var got1, got2 bool
		select {
		case <-ch1:
			got1 = true
		default:
		}
		select {
		case <-ch2:
			got2 = true
		default:
		}
		return got1, got2
	}
	tests := []struct {
		name         string
		event        func()
		want1, want2 bool
	}{
		{"lease of e1", func() { n.leaseChanged(lease) }, true, false},
		{"moved from e1 to e2 wakes both", func() { n.leaseChanged(lease); n.leaseChanged(moved) }, true, true},
		{"tombstone", func() { n.leaseChanged(toolscache.DeletedFinalStateUnknown{Key: "lab/l1", Obj: moved}) }, false, true},
		{"pending lease wakes nobody", func() { n.leaseChanged(pending) }, false, false},
		{"repeated wake-ups merge", func() { n.Notify(e1); n.Notify(e1); n.Notify(e1) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.event()
			if got1, got2 := drain(); got1 != tt.want1 || got2 != tt.want2 {
				t.Errorf("woke e1=%v e2=%v, want %v %v", got1, got2, tt.want1, tt.want2)
			}
		})
	}
}

func TestLeaseExporterIndexSkipsEndedLeases(t *testing.T) {
	tests := []struct {
		name string
		obj  client.Object
		want []string
	}{
		{"active", newLease("l1", "alice", granted("e1")), []string{"e1"}},
		{"ended", newLease("l1", "alice", granted("e1"), ended), nil},
		{"pending", newLease("l1", "alice"), nil},
		{"not a lease", &jumpstarterv1alpha1.Exporter{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := virtualnode.LeaseExporterIndexFunc(tt.obj)
			if len(got) != len(tt.want) || (len(got) == 1 && got[0] != tt.want[0]) {
				t.Errorf("index = %v, want %v", got, tt.want)
			}
		})
	}
}
