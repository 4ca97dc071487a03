package rendezvous

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestPairing(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	tab := New[string](time.Minute, clk)
	exp := clk.Now().Add(30 * time.Minute)

	_, w, err := tab.Join("id", exp, "exporter")
	if err != nil || w == nil {
		t.Fatalf("first Join = %v, %v; want a waiter", w, err)
	}
	got := make(chan string, 1)
	go func() {
		p, _, err := w.Wait(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	clk.Step(2 * time.Second)
	peer, w2, err := tab.Join("id", exp, "client")
	if err != nil || w2 != nil || peer != "exporter" {
		t.Fatalf("second Join = %q, %v, %v; want the exporter at once", peer, w2, err)
	}
	if p := <-got; p != "client" {
		t.Errorf("first got %q, want client", p)
	}
	if tab.Waiting() != 0 {
		t.Errorf("waiting = %d after pairing", tab.Waiting())
	}
	if _, _, err := tab.Join("id", exp, "third"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("third Join = %v, want ErrDuplicate", err)
	}
	// Once the token expired, the id is forgotten at the next sweep.
	clk.Step(31 * time.Minute)
	if _, w, err := tab.Join("other", exp, "x"); err != nil {
		t.Fatal(err)
	} else {
		w.Cancel()
	}
	if tab.Spent() != 0 {
		t.Errorf("spent = %d after the token expired, want 0", tab.Spent())
	}
}

func TestWaitEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(clk *clocktesting.FakeClock, tab *Table[int], cancel context.CancelFunc)
		want error
	}{
		{"timeout", func(clk *clocktesting.FakeClock, _ *Table[int], _ context.CancelFunc) {
			for !clk.HasWaiters() {
				time.Sleep(time.Millisecond)
			}
			clk.Step(time.Minute)
		}, ErrTimeout},
		{"cancelled", func(_ *clocktesting.FakeClock, _ *Table[int], cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"closed", func(_ *clocktesting.FakeClock, tab *Table[int], _ context.CancelFunc) { tab.Close() }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Now())
			tab := New[int](time.Minute, clk)
			_, w, err := tab.Join("id", clk.Now().Add(time.Hour), 1)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, _, err := w.Wait(ctx)
				done <- err
			}()
			tt.end(clk, tab, cancel)
			if err := <-done; !errors.Is(err, tt.want) {
				t.Errorf("Wait = %v, want %v", err, tt.want)
			}
			if tab.Waiting() != 0 {
				t.Errorf("entry left behind after %s", tt.name)
			}
			if tt.want != ErrClosed {
				// Not spent: the same id can wait again.
				if _, w, err := tab.Join("id", clk.Now().Add(time.Hour), 2); err != nil || w == nil {
					t.Errorf("Join after %s = %v, %v; want a new waiter", tt.name, w, err)
				}
			}
		})
	}
}

func TestCancelRacesPairing(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	tab := New[int](time.Minute, clk)
	_, w, _ := tab.Join("id", clk.Now().Add(time.Hour), 1)
	if peer, w2, err := tab.Join("id", clk.Now().Add(time.Hour), 2); err != nil || w2 != nil || peer != 1 {
		t.Fatal("second Join did not pair")
	}
	// The first never waited: Cancel hands it the peer it must now end.
	if peer, paired := w.Cancel(); !paired || peer != 2 {
		t.Errorf("Cancel = %d, %v; want the peer that paired", peer, paired)
	}
	_, w, _ = tab.Join("lonely", clk.Now().Add(time.Hour), 3)
	if _, paired := w.Cancel(); paired || tab.Waiting() != 0 {
		t.Error("Cancel of a lone waiter did not remove it")
	}
	if _, _, err := w.Wait(context.Background()); err == nil {
		t.Error("Wait after Cancel succeeded")
	}
}

func TestClosedRefusesJoin(t *testing.T) {
	tab := New[int](time.Minute, clocktesting.NewFakeClock(time.Now()))
	tab.Close()
	tab.Close()
	if _, _, err := tab.Join("id", time.Now().Add(time.Hour), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Join on a closed table = %v, want ErrClosed", err)
	}
}
