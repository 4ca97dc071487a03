package exporter

import (
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// logQueue is how many entries a slow LogStream reader may fall behind before entries are
// dropped for it (the Python exporter keeps 32).
const logQueue = 32

// logHub fans a session's log entries out to its LogStream readers. Entries are what the
// exporter does for the client (driver calls, streams), not the agent's own log.
type logHub struct {
	mu   sync.Mutex
	subs map[chan *jumpstarterv1.LogStreamResponse]struct{}
}

func newLogHub() *logHub {
	return &logHub{subs: map[chan *jumpstarterv1.LogStreamResponse]struct{}{}}
}

func (h *logHub) subscribe() (<-chan *jumpstarterv1.LogStreamResponse, func()) {
	ch := make(chan *jumpstarterv1.LogStreamResponse, logQueue)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// publish sends an entry about driver uuid to every reader that keeps up.
func (h *logHub) publish(uuid, severity, operation, message string) {
	e := &jumpstarterv1.LogStreamResponse{
		Uuid:      uuid,
		Severity:  severity,
		Message:   message,
		Source:    jumpstarterv1.LogSource_LOG_SOURCE_DRIVER.Enum(),
		Operation: proto.String(operation),
		Timestamp: timestamppb.New(time.Now()),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}
