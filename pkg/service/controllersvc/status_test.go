package controllersvc

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// statusStream opens a Status stream and returns its messages on a channel.
func statusStream(t *testing.T, env *env, exporter string) (<-chan *jumpstarterv1.StatusResponse, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(asExporter(context.Background(), exporter))
	t.Cleanup(cancel)
	stream, err := env.ctl.Status(ctx, &jumpstarterv1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return receiveAll(stream)
}

func receiveAll[T any](stream grpc.ServerStreamingClient[T]) (<-chan *T, <-chan error) {
	msgs, done := make(chan *T, 16), make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				done <- err
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	return msgs, done
}

func next[T any](t *testing.T, msgs <-chan *T) *T {
	t.Helper()
	select {
	case m, ok := <-msgs:
		if !ok {
			t.Fatal("stream ended")
		}
		return m
	case <-time.After(time.Second):
		t.Fatal("no message within a second")
	}
	return nil
}

func none[T any](t *testing.T, msgs <-chan *T, within time.Duration) {
	t.Helper()
	select {
	case m, ok := <-msgs:
		if ok {
			t.Fatalf("unexpected message %v", m)
		}
	case <-time.After(within):
	}
}

func leased(lease, clientName string, ctx map[string]string) *jumpstarterv1.StatusResponse {
	return &jumpstarterv1.StatusResponse{Leased: true, LeaseName: ptr.To(lease), ClientName: ptr.To(clientName), Context: ctx}
}

var notLeased = &jumpstarterv1.StatusResponse{Leased: false}

func TestStatusFollowsTheLease(t *testing.T) {
	tests := []struct {
		name    string
		objs    []client.Object
		initial *jumpstarterv1.StatusResponse
		// steps change the world; each is followed by the message it should cause (nil: none).
		steps []func(*env)
		want  []*jumpstarterv1.StatusResponse
	}{
		{
			name:    "granted, unrelated change, released",
			objs:    []client.Object{newExporter("e1"), newLease("l1", "alice", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Context = map[string]string{"ci": "run-7"} })},
			initial: notLeased,
			steps: []func(*env){
				func(e *env) { e.setLease("l1", func(l *jumpstarterv1alpha1.Lease) { grant(l, "e1", time.Now()) }) },
				func(e *env) {
					e.setLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Labels = map[string]string{"x": "y"} })
				},
				func(e *env) { e.setLease("l1", ended) },
			},
			want: []*jumpstarterv1.StatusResponse{leased("l1", "alice", map[string]string{"ci": "run-7"}), nil, notLeased},
		},
		{
			name:    "leased on connect, another exporter's lease is not ours",
			objs:    []client.Object{newExporter("e1"), newExporter("e2"), newLease("l1", "bob", granted("e1")), newLease("l2", "carol")},
			initial: leased("l1", "bob", nil),
			steps: []func(*env){
				func(e *env) { e.setLease("l2", func(l *jumpstarterv1alpha1.Lease) { grant(l, "e2", time.Now()) }) },
				func(e *env) { e.setLease("l1", ended) },
			},
			want: []*jumpstarterv1.StatusResponse{nil, notLeased},
		},
		{
			name:    "pending lease is not leased",
			objs:    []client.Object{newExporter("e1"), newLease("l1", "alice")},
			initial: notLeased,
			steps: []func(*env){
				func(e *env) {
					e.setLease("l1", func(l *jumpstarterv1alpha1.Lease) {
						l.Status.Conditions = []metav1.Condition{{Type: jumpstarterv1alpha1.LeaseConditionPending, Status: metav1.ConditionTrue, Reason: "NotAvailable", LastTransitionTime: metav1.Now()}}
					})
				},
			},
			want: []*jumpstarterv1.StatusResponse{nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, tt.objs)
			msgs, _ := statusStream(t, env, "e1")
			if got := next(t, msgs); !proto.Equal(got, tt.initial) {
				t.Fatalf("first message = %v, want %v", got, tt.initial)
			}
			for i, step := range tt.steps {
				step(env)
				if tt.want[i] == nil {
					none(t, msgs, 100*time.Millisecond)
					continue
				}
				start := time.Now()
				if got := next(t, msgs); !proto.Equal(got, tt.want[i]) {
					t.Fatalf("after step %d: %v, want %v", i, got, tt.want[i])
				}
				if d := time.Since(start); d > 200*time.Millisecond {
					t.Errorf("step %d took %s to reach the stream", i, d)
				}
			}
		})
	}
}

func TestStatusOnConnect(t *testing.T) {
	tests := []struct {
		name        string
		value       string
		wantValue   string
		wantMessage string
	}{
		{"stored Offline is cleared", jumpstarterv1alpha1.ExporterStatusOffline, jumpstarterv1alpha1.ExporterStatusUnspecified, ""},
		{"other status is kept", jumpstarterv1alpha1.ExporterStatusAvailable, jumpstarterv1alpha1.ExporterStatusAvailable, "was here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exporter := newExporter("e1", withStatus(tt.value), func(e *jumpstarterv1alpha1.Exporter) {
				e.Status.StatusMessage = "was here"
				e.Status.LastSeen = &metav1.Time{Time: time.Now().Add(-time.Hour)}
				e.Status.Credential = nil
				e.Status.Endpoint = "controller.lab:8082"
			})
			env := newEnv(t, []client.Object{exporter})
			before := time.Now().Add(-time.Second)
			msgs, _ := statusStream(t, env, "e1")
			next(t, msgs)
			got := env.exporter("e1")
			if got.Status.ExporterStatusValue != tt.wantValue || got.Status.StatusMessage != tt.wantMessage {
				t.Errorf("status = %q %q, want %q %q", got.Status.ExporterStatusValue, got.Status.StatusMessage, tt.wantValue, tt.wantMessage)
			}
			if got.Status.LastSeen.Time.Before(before) || !meta.IsStatusConditionTrue(got.Status.Conditions, jumpstarterv1alpha1.ExporterConditionOnline) {
				t.Errorf("lastSeen %v, conditions %+v: want refreshed and Online=True", got.Status.LastSeen, got.Status.Conditions)
			}
			if got.Status.Endpoint != "controller.lab:8082" {
				t.Errorf("endpoint = %q: the heartbeat overwrote another writer's field", got.Status.Endpoint)
			}
		})
	}
}

func TestStatusHeartbeat(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	tests := []struct {
		name string
		// silence is what another writer does to the exporter while the stream is open.
		silence     func(*jumpstarterv1alpha1.Exporter)
		wantValue   string
		wantOnline  bool
		wantMessage string
	}{
		{
			name:       "lastSeen is refreshed",
			silence:    func(e *jumpstarterv1alpha1.Exporter) { e.Status.LastSeen = &old },
			wantValue:  jumpstarterv1alpha1.ExporterStatusAvailable,
			wantOnline: true, wantMessage: "ok",
		},
		{
			name: "declared stale by the virtual node reconciler: recovered",
			silence: func(e *jumpstarterv1alpha1.Exporter) {
				e.Status.LastSeen = &old
				e.Status.ExporterStatusValue = jumpstarterv1alpha1.ExporterStatusOffline
				e.Status.StatusMessage = "Connection lost - last seen more than 1 minute ago"
				meta.SetStatusCondition(&e.Status.Conditions, metav1.Condition{Type: jumpstarterv1alpha1.ExporterConditionOnline, Status: metav1.ConditionFalse, Reason: "Stale"})
			},
			wantValue:  jumpstarterv1alpha1.ExporterStatusUnspecified,
			wantOnline: true,
		},
		{
			name: "Offline reported by the exporter itself: kept",
			silence: func(e *jumpstarterv1alpha1.Exporter) {
				e.Status.LastSeen = &old
				e.Status.ExporterStatusValue = jumpstarterv1alpha1.ExporterStatusOffline
				e.Status.StatusMessage = "Exporter shutting down"
			},
			wantValue:  jumpstarterv1alpha1.ExporterStatusOffline,
			wantOnline: true, wantMessage: "Exporter shutting down",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exporter := newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusAvailable), func(e *jumpstarterv1alpha1.Exporter) { e.Status.StatusMessage = "ok" })
			env := newEnv(t, []client.Object{exporter}, func(c *Config) { c.HeartbeatInterval = 30 * time.Millisecond })
			msgs, _ := statusStream(t, env, "e1")
			next(t, msgs)
			env.setExporterStatus("e1", tt.silence)
			eventually(t, "a heartbeat", func() bool {
				got := env.exporter("e1")
				return got.Status.LastSeen != nil && got.Status.LastSeen.After(old.Time)
			})
			got := env.exporter("e1")
			if got.Status.ExporterStatusValue != tt.wantValue || got.Status.StatusMessage != tt.wantMessage ||
				meta.IsStatusConditionTrue(got.Status.Conditions, jumpstarterv1alpha1.ExporterConditionOnline) != tt.wantOnline {
				t.Errorf("status = %q %q %+v, want %q %q Online=%v", got.Status.ExporterStatusValue, got.Status.StatusMessage,
					got.Status.Conditions, tt.wantValue, tt.wantMessage, tt.wantOnline)
			}
			none(t, msgs, 50*time.Millisecond) // heartbeats send nothing
		})
	}
}

func TestStatusEnds(t *testing.T) {
	t.Run("unknown exporter", func(t *testing.T) {
		env := newEnv(t, nil)
		_, done := statusStream(t, env, "ghost")
		wantStatus(t, <-done, codes.NotFound, "exporter lab/ghost not found")
	})
	t.Run("exporter deleted", func(t *testing.T) {
		env := newEnv(t, []client.Object{newExporter("e1")})
		msgs, done := statusStream(t, env, "e1")
		next(t, msgs)
		if err := env.client.Delete(context.Background(), env.exporter("e1")); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			wantStatus(t, err, codes.NotFound, "exporter lab/e1 not found")
		case <-time.After(time.Second):
			t.Fatal("stream still open after the exporter was deleted")
		}
	})
	t.Run("client caller", func(t *testing.T) {
		env := newEnv(t, []client.Object{newExporter("e1")})
		stream, err := env.ctl.Status(asClient(context.Background(), "e1"), &jumpstarterv1.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		wantStatus(t, err, codes.InvalidArgument, "object kind mismatch")
	})
	t.Run("unsubscribed on close", func(t *testing.T) {
		env := newEnv(t, []client.Object{newExporter("e1")})
		ctx, cancel := context.WithCancel(asExporter(context.Background(), "e1"))
		stream, err := env.ctl.Status(ctx, &jumpstarterv1.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		eventually(t, "the subscription to go", func() bool {
			env.server.notifier.mu.Lock()
			defer env.server.notifier.mu.Unlock()
			return len(env.server.notifier.subs) == 0
		})
	})
}
