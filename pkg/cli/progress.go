package cli

import (
	"fmt"
	"io"
	"time"

	"jumpstarter.dev/service/pkg/jmpclient"
)

// progressEvery is how often an unchanged wait is reported again, so a CI log shows it is
// alive.
const progressEvery = 30 * time.Second

// progress reports a lease wait on standard error, one line each time the controller says
// something new and every progressEvery otherwise. The queue position is not in the gRPC
// Lease message; the Pending message says what the lease waits for.
type progress struct {
	w        io.Writer
	every    time.Duration
	last     string
	lastTime time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, every: progressEvery}
}

func (p *progress) report(pr jmpclient.Progress) {
	msg := "waiting for the controller"
	switch {
	case pr.Err != nil:
		msg = fmt.Sprintf("GetLease failed, retrying: %v", pr.Err)
	case pr.Reason != "" || pr.Message != "":
		msg = fmt.Sprintf("%s: %s", pr.Reason, pr.Message)
	}
	now := time.Now()
	if msg == p.last && now.Sub(p.lastTime) < p.every {
		return
	}
	p.last, p.lastTime = msg, now
	fmt.Fprintf(p.w, "Waiting for lease %s (%s): %s\n", pr.Lease, pr.Elapsed.Round(time.Second), msg)
}

// note reports something else that happened, on the same stream.
func (p *progress) note(msg string) {
	fmt.Fprintln(p.w, msg)
}
