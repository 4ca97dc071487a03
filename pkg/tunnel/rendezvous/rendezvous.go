package rendezvous

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

var (
	// ErrDuplicate: two streams already paired under the id.
	ErrDuplicate = errors.New("stream id already used by two peers")
	// ErrTimeout: no second stream came within the table's timeout.
	ErrTimeout = errors.New("no peer joined in time")
	// ErrClosed: the table is closed (the router is shutting down).
	ErrClosed = errors.New("rendezvous closed")
	// errInternal: a Waiter waited or cancelled twice.
	errInternal = errors.New("rendezvous: waiter used twice")
)

// sweepInterval is how often Join drops spent ids whose tokens have expired.
const sweepInterval = time.Minute

// Table pairs values of type T (the router's stream endpoints) by key. It is safe for
// concurrent use.
type Table[T any] struct {
	timeout time.Duration
	clock   clock.Clock

	mu        sync.Mutex
	waiting   map[string]*Waiter[T]
	spent     map[string]time.Time // key -> when its token expires
	lastSweep time.Time
	closed    chan struct{}
	isClosed  bool
}

// New makes a table whose first callers wait at most timeout for their peer.
func New[T any](timeout time.Duration, clk clock.Clock) *Table[T] {
	return &Table[T]{
		timeout:   timeout,
		clock:     clk,
		waiting:   map[string]*Waiter[T]{},
		spent:     map[string]time.Time{},
		lastSweep: clk.Now(),
		closed:    make(chan struct{}),
	}
}

// Waiter is a first caller registered under its key, until Wait or Cancel returns.
type Waiter[T any] struct {
	t      *Table[T]
	key    string
	self   T // the first caller's value, handed to the second
	joined time.Time
	peer   chan T // buffered: the second caller never blocks
	done   bool
}

// Join presents v under key, whose token expires at expires. The second caller gets the
// first caller's value at once (w is nil); the first gets a Waiter to wait for the second's
// (peer is the zero value). A spent key, or a closed table, is an error.
func (t *Table[T]) Join(key string, expires time.Time, v T) (peer T, w *Waiter[T], err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var zero T
	if t.isClosed {
		return zero, nil, ErrClosed
	}
	now := t.clock.Now()
	t.sweepLocked(now)
	if exp, ok := t.spent[key]; ok && now.Before(exp) {
		return zero, nil, ErrDuplicate
	}
	if first, ok := t.waiting[key]; ok {
		delete(t.waiting, key)
		t.spent[key] = expires
		first.peer <- v
		return first.self, nil, nil
	}
	w = &Waiter[T]{t: t, key: key, self: v, joined: now, peer: make(chan T, 1)}
	t.waiting[key] = w
	return zero, w, nil
}

// Wait blocks until the second caller joins (returning its value), the timeout passes
// (ErrTimeout), ctx ends (its error) or the table closes (ErrClosed). The entry is gone when
// Wait returns, whatever the outcome. waited is how long it waited.
func (w *Waiter[T]) Wait(ctx context.Context) (peer T, waited time.Duration, err error) {
	var zero T
	if w.done {
		return zero, 0, errInternal
	}
	w.done = true
	remaining := w.t.timeout - w.t.clock.Since(w.joined)
	timer := w.t.clock.NewTimer(max(remaining, 0))
	defer timer.Stop()
	select {
	case p := <-w.peer:
		return p, w.t.clock.Since(w.joined), nil
	case <-timer.C():
		err = ErrTimeout
	case <-ctx.Done():
		err = context.Cause(ctx)
	case <-w.t.closed:
		err = ErrClosed
	}
	if w.leave() {
		return zero, w.t.clock.Since(w.joined), err
	}
	// The second caller took the entry between the wake-up and leave: it is paired after all.
	return <-w.peer, w.t.clock.Since(w.joined), nil
}

// Cancel removes a waiter that will not Wait (its stream failed before). If a second caller
// paired with it in the meantime, Cancel returns that caller's value and paired is true: the
// caller must then end that stream too.
func (w *Waiter[T]) Cancel() (peer T, paired bool) {
	var zero T
	if w.done {
		return zero, false
	}
	w.done = true
	if w.leave() {
		return zero, false
	}
	return <-w.peer, true
}

// leave removes the entry if it is still waiting, and reports whether it was.
func (w *Waiter[T]) leave() bool {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	if w.t.waiting[w.key] == w {
		delete(w.t.waiting, w.key)
		return true
	}
	return false
}

// Waiting is the number of first callers waiting.
func (t *Table[T]) Waiting() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.waiting)
}

// Spent is the number of spent keys remembered.
func (t *Table[T]) Spent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.spent)
}

// Close refuses new callers and wakes every waiter with ErrClosed.
func (t *Table[T]) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.isClosed {
		t.isClosed = true
		close(t.closed)
	}
}

func (t *Table[T]) sweepLocked(now time.Time) {
	if now.Sub(t.lastSweep) < sweepInterval {
		return
	}
	t.lastSweep = now
	for k, exp := range t.spent {
		if !now.Before(exp) {
			delete(t.spent, k)
		}
	}
}
