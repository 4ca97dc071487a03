package h2relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/tunnel/tlsbatch"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// Tuning of the server, in one place.
const (
	// MaxConcurrentStreams is advertised to clients; more streams are refused.
	MaxConcurrentStreams = 1000
	// maxFrameSize is the largest frame we read: the HTTP/2 default, which we advertise.
	maxFrameSize = 16 << 10
	// maxHeaderListSize bounds a request's header block (a router token is under 1 KiB).
	maxHeaderListSize = 16 << 10
	// handshakeTimeout bounds TLS and the client preface.
	handshakeTimeout = 10 * time.Second
	// writeTimeout bounds a flush: a peer that stops reading its socket loses its connection.
	writeTimeout = 15 * time.Second
	// writerPendingMax is what WriteData lets queue on a stream before it blocks.
	writerPendingMax = 1 << 20
	// pingBurst and pingRefill: the pings a connection may send without us sending data or
	// headers, refilled by one per pingRefill (peers ping every 20 s; grpc-go's policy).
	pingBurst  = 20
	pingRefill = time.Second
	// Windows are credited when a quarter of them was consumed.
	streamCreditThreshold = wire.GRPCStreamWindow / 4
	connCreditThreshold   = wire.GRPCConnWindow / 4
	initialWindow         = 65535 // RFC 9113 default, before SETTINGS
)

// conn is one client connection.
type conn struct {
	srv *Server
	nc  net.Conn
	// batch is the socket under nc's TLS, which gathers a flush's records into one write;
	// nil when nc is not TLS (tests).
	batch  *tlsbatch.Conn
	fr     *http2.Framer
	logger logr.Logger

	// Reader state.
	lastStreamID atomic.Uint32
	sawSettings  bool
	pingTokens   int // also reset under wmu when we send data; benign race is avoided by wmu
	lastPing     time.Time
	recvWindow   atomic.Int64
	unacked      atomic.Int64

	mu      sync.Mutex // streams; a leaf lock
	streams map[uint32]*Stream

	// Send side, under wmu.
	wmu        sync.Mutex
	bw         *writeBuf
	enc        *hpack.Encoder
	hbuf       bytes.Buffer
	werr       error
	sendWindow int64
	// flushQ holds flushed write buffers, in order, for the flusher goroutine while flushing.
	flushQ    []*writeBuf
	flushing  bool
	flushIdle *sync.Cond // on wmu: the flusher stopped
	// werrAsync is a write error of the flusher (which writes without wmu), copied into werr
	// under wmu.
	werrAsync    atomic.Pointer[error]
	werrOnce     sync.Once
	peerMaxFrame uint32
	peerInitial  int64
	blocked      []*Stream
	goingAway    atomic.Bool

	closeOnce sync.Once
}

func newConn(srv *Server, nc net.Conn) *conn {
	c := &conn{
		srv:          srv,
		nc:           nc,
		logger:       srv.logger.WithValues("remote", nc.RemoteAddr()),
		streams:      map[uint32]*Stream{},
		sendWindow:   initialWindow,
		peerMaxFrame: maxFrameSize,
		peerInitial:  initialWindow,
		pingTokens:   pingBurst,
	}
	c.flushIdle = sync.NewCond(&c.wmu)
	c.recvWindow.Store(wire.GRPCConnWindow)
	c.fr = http2.NewFramer(nil, nc)
	c.fr.SetMaxReadFrameSize(maxFrameSize)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = maxHeaderListSize
	c.enc = hpack.NewEncoder(&c.hbuf)
	// No dynamic table: the encoder keeps no state worth memory, and every block stands alone.
	c.enc.SetMaxDynamicTableSizeLimit(0)
	return c
}

// serve runs the connection's reader until the connection ends.
func (c *conn) serve() {
	err := c.readLoop()
	c.close(err)
}

func (c *conn) readLoop() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c.nc, preface[:]); err != nil {
		return fmt.Errorf("read client preface: %w", err)
	}
	if string(preface[:]) != http2.ClientPreface {
		return errors.New("bad client preface")
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	c.wmu.Lock()
	c.settingsLocked(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: MaxConcurrentStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: wire.GRPCStreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: maxHeaderListSize},
	)
	c.windowUpdateLocked(0, wire.GRPCConnWindow-initialWindow)
	c.flushLocked()
	c.wmu.Unlock()
	for {
		fh, err := c.fr.ReadFrameHeader()
		if err == nil && !c.sawSettings && fh.Type != http2.FrameSettings {
			err = http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if err == nil {
			if fh.Type == http2.FrameData {
				err = c.readData(fh)
			} else {
				var f http2.Frame
				if f, err = c.fr.ReadFrameForHeader(fh); err == nil {
					err = c.onFrame(f)
				}
			}
		}
		if err == nil {
			continue
		}
		var se http2.StreamError
		if errors.As(err, &se) {
			c.resetStream(se.StreamID, se.Code)
			continue
		}
		if errors.Is(err, http2.ErrFrameTooLarge) {
			err = http2.ConnectionError(http2.ErrCodeFrameSize)
		}
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			c.wmu.Lock()
			c.goAwayLocked(c.lastStreamID.Load(), http2.ErrCode(ce), "")
			c.flushLocked()
			c.wmu.Unlock()
		}
		return err
	}
}

// readData reads a DATA frame's payload into a pooled buffer and hands it to its stream.
func (c *conn) readData(fh http2.FrameHeader) error {
	n := int(fh.Length)
	pool := wire.BufferPool()
	buf := pool.Get(n)
	defer pool.Put(buf)
	data := (*buf)[:n]
	if _, err := io.ReadFull(c.nc, data); err != nil {
		return err
	}
	if fh.StreamID == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	pad := 0
	if fh.Flags.Has(http2.FlagDataPadded) {
		if n < 1 || int(data[0]) > n-1 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		pad = 1 + int(data[0])
		data = data[1 : n-int(data[0])]
	}
	if c.recvWindow.Add(-int64(n)) < 0 {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	s := c.stream(fh.StreamID)
	if s == nil {
		if fh.StreamID > c.lastStreamID.Load() {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		c.credit(nil, n) // a stream we closed: the bytes still count for the connection
		return nil
	}
	if s.recvWindow.Add(-int64(n)) < 0 {
		c.credit(nil, n)
		return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeFlowControl}
	}
	if err := s.onData(data, pad, fh.Flags.Has(http2.FlagDataEndStream)); err != nil {
		return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeStreamClosed, Cause: err}
	}
	return nil
}

func (c *conn) onFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.PingFrame:
		return c.onPing(f)
	case *http2.RSTStreamFrame:
		if f.StreamID > c.lastStreamID.Load() {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if s := c.stream(f.StreamID); s != nil {
			s.gone(ErrStreamGone)
		}
	case *http2.GoAwayFrame:
		c.logger.V(4).Info("Client sent GOAWAY", "code", f.ErrCode, "lastStream", f.LastStreamID)
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	// PRIORITY and unknown frame types are ignored.
	return nil
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	c.sawSettings = true
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		return err
	}
	var credits creditList
	c.wmu.Lock()
	_ = f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.peerInitial
			c.peerInitial = int64(s.Val)
			c.mu.Lock()
			for _, st := range c.streams {
				st.sendWindow += delta
			}
			c.mu.Unlock()
		}
		return nil
	})
	c.frameLocked(http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
	c.sendBlockedLocked(&credits)
	c.flushLocked()
	c.wmu.Unlock()
	credits.apply()
	return nil
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	var credits creditList
	c.wmu.Lock()
	defer func() {
		c.wmu.Unlock()
		credits.apply()
	}()
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.sendBlockedLocked(&credits)
	} else {
		s := c.stream(f.StreamID)
		if s == nil {
			if f.StreamID > c.lastStreamID.Load() {
				return http2.ConnectionError(http2.ErrCodeProtocol)
			}
			return nil
		}
		s.sendWindow += int64(f.Increment)
		if s.sendWindow > 1<<31-1 {
			return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeFlowControl}
		}
		c.sendPendingLocked(s, &credits)
	}
	c.flushLocked()
	return nil
}

func (c *conn) onPing(f *http2.PingFrame) error {
	if f.IsAck() {
		return nil
	}
	now := time.Now()
	c.wmu.Lock()
	if c.pingTokens < pingBurst && !c.lastPing.IsZero() {
		c.pingTokens = min(pingBurst, c.pingTokens+int(now.Sub(c.lastPing)/pingRefill))
	}
	c.lastPing = now
	if c.pingTokens <= 0 {
		c.goAwayLocked(c.lastStreamID.Load(), http2.ErrCodeEnhanceYourCalm, "too_many_pings")
		c.flushLocked()
		c.wmu.Unlock()
		return errors.New("too many pings")
	}
	c.pingTokens--
	c.frameLocked(http2.FramePing, http2.FlagPingAck, 0, f.Data[:])
	c.flushLocked()
	c.wmu.Unlock()
	return nil
}

func (c *conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if id <= c.lastStreamID.Load() {
		s := c.stream(id)
		if s == nil {
			return nil // trailers of a stream we closed
		}
		if !f.StreamEnded() {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		return s.onData(nil, 0, true) // trailers from a client: its end of stream
	}
	c.lastStreamID.Store(id)
	refuse := func(code http2.ErrCode) error {
		c.wmu.Lock()
		c.rstLocked(id, code)
		c.flushLocked()
		c.wmu.Unlock()
		return nil
	}
	if c.goingAway.Load() {
		return refuse(http2.ErrCodeRefusedStream)
	}
	c.mu.Lock()
	active := len(c.streams)
	c.mu.Unlock()
	if active >= MaxConcurrentStreams {
		return refuse(http2.ErrCodeRefusedStream)
	}
	method, path := f.PseudoValue("method"), f.PseudoValue("path")
	if method != "POST" || path == "" || f.PseudoValue("scheme") == "" || f.PseudoValue("status") != "" {
		return refuse(http2.ErrCodeProtocol)
	}
	md := Metadata(f.RegularFields())
	for _, h := range md {
		if connectionSpecific[h.Name] || h.Name == "te" && h.Value != "trailers" {
			return refuse(http2.ErrCodeProtocol)
		}
	}
	s := &Stream{c: c, id: id}
	s.recvWindow.Store(wire.GRPCStreamWindow)
	if f.StreamEnded() {
		s.recvDone.Store(true)
	}
	c.wmu.Lock()
	s.sendWindow = c.peerInitial
	c.wmu.Unlock()
	c.mu.Lock()
	c.streams[id] = s
	c.mu.Unlock()

	if ct := md.Get("content-type"); len(ct) != 1 || !isGRPCContentType(ct[0]) {
		c.wmu.Lock()
		c.headersLocked(id, []hpack.HeaderField{{Name: ":status", Value: "415"}}, true)
		s.closed.Store(true)
		if !s.recvDone.Load() {
			c.rstLocked(id, http2.ErrCodeNo)
		}
		c.flushLocked()
		c.wmu.Unlock()
		c.forget(s)
		return nil
	}
	if f.Truncated {
		s.Abort(status.New(codes.ResourceExhausted, "header list too large"))
		return nil
	}
	var timeout time.Duration
	if v := md.Get("grpc-timeout"); len(v) > 0 {
		d, err := parseTimeout(v[0])
		if err != nil {
			s.Abort(status.New(codes.Internal, err.Error()))
			return nil
		}
		timeout = d
	}
	switch path {
	case c.srv.opts.Method:
		s.kind = kindRelay
		c.srv.opts.Handler(s, md)
	case healthCheckMethod:
		s.kind = kindHealth
		if s.recvDone.Load() {
			s.Abort(status.New(codes.Internal, "health check without a request"))
			return nil
		}
	default:
		s.Abort(unimplemented(path))
		return nil
	}
	if timeout > 0 && !s.closed.Load() {
		s.timer = time.AfterFunc(timeout, s.expire)
	}
	if s.recvDone.Load() && s.kind == kindRelay {
		s.recvDone.Store(false) // onData sets it again with the end
		return s.onData(nil, 0, true)
	}
	return nil
}

// unimplemented is grpc-go's answer to a method it does not serve.
func unimplemented(path string) *status.Status {
	service, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || service == "" {
		return status.Newf(codes.Unimplemented, "malformed method name: %q", path)
	}
	if service == "grpc.health.v1.Health" {
		return status.Newf(codes.Unimplemented, "unknown method %v for service %v", method, service)
	}
	return status.Newf(codes.Unimplemented, "unknown service %v", service)
}

func (c *conn) stream(id uint32) *Stream {
	c.mu.Lock()
	s := c.streams[id]
	c.mu.Unlock()
	return s
}

// forget removes a closed stream.
func (c *conn) forget(s *Stream) {
	c.mu.Lock()
	if c.streams[s.id] == s {
		delete(c.streams, s.id)
	}
	c.mu.Unlock()
}

// resetStream answers a stream error: RST_STREAM, and the stream is gone.
func (c *conn) resetStream(id uint32, code http2.ErrCode) {
	s := c.stream(id)
	if s != nil && !s.closed.Load() {
		c.wmu.Lock()
		c.rstLocked(id, code)
		c.flushLocked()
		c.wmu.Unlock()
		s.gone(ErrStreamGone)
	}
}

// credit gives back window for n consumed bytes of s (nil: of the connection only), with a
// WINDOW_UPDATE once a quarter of the window is owed.
func (c *conn) credit(s *Stream, n int) {
	if n <= 0 {
		return
	}
	cu := c.unacked.Add(int64(n))
	var su int64
	if s != nil && !s.recvDone.Load() {
		su = s.unacked.Add(int64(n))
	}
	if su < streamCreditThreshold && cu < connCreditThreshold {
		return
	}
	c.wmu.Lock()
	if su >= streamCreditThreshold && !s.closed.Load() {
		if v := s.unacked.Swap(0); v > 0 {
			s.recvWindow.Add(v)
			c.windowUpdateLocked(s.id, uint32(v))
		}
	}
	if v := c.unacked.Load(); v >= connCreditThreshold {
		c.unacked.Add(-v)
		c.recvWindow.Add(v)
		c.windowUpdateLocked(0, uint32(v))
	}
	c.flushLocked()
	c.wmu.Unlock()
}

// blockLocked notes that s has bytes waiting.
func (c *conn) blockLocked(s *Stream) {
	if !s.blocked {
		s.blocked = true
		c.blocked = append(c.blocked, s)
	}
}

// unblockLocked drops s from the blocked streams, if it is one.
func (c *conn) unblockLocked(s *Stream) {
	if !s.blocked {
		return
	}
	s.blocked = false
	for i, b := range c.blocked {
		if b == s {
			c.blocked = append(c.blocked[:i], c.blocked[i+1:]...)
			break
		}
	}
	if len(c.blocked) == 0 {
		c.blocked = nil
	}
}

// sendBlockedLocked sends what waits on every blocked stream, as far as the windows allow.
func (c *conn) sendBlockedLocked(credits *creditList) {
	for i := 0; i < len(c.blocked) && c.sendWindow > 0; {
		s := c.blocked[i]
		c.sendPendingLocked(s, credits)
		if s.blocked {
			i++
		}
	}
}

// sendPendingLocked sends what waits on s, as far as the windows allow, then its trailers if
// they wait too.
func (c *conn) sendPendingLocked(s *Stream, credits *creditList) {
	if !s.headersSent || s.closed.Load() {
		return
	}
	sent := false
	for s.pending.n > 0 {
		p, credit := s.pending.front()
		n := c.dataLocked(s, p)
		if n == 0 {
			break
		}
		sent = true
		s.pending.consume(n)
		if credit {
			credits.add(s.source, n)
		}
	}
	if s.pending.n > 0 {
		return
	}
	c.unblockLocked(s)
	if sent {
		s.signalWake()
	}
	if s.finishReq {
		c.trailersLocked(s, status.New(codes.OK, ""), s.finishExtra)
		go s.closeDone() // takes the receive lock, which our caller may hold
	}
}

// shutdown tells the client that no new stream will be served.
func (c *conn) shutdown() {
	c.goingAway.Store(true)
	c.wmu.Lock()
	c.goAwayLocked(c.lastStreamID.Load(), http2.ErrCodeNo, "")
	c.flushLocked()
	c.wmu.Unlock()
}

// close ends the connection and every stream on it.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		// What was flushed (a GOAWAY, the last bytes of a tunnel) goes out before the close.
		c.wmu.Lock()
		c.waitFlushedLocked()
		c.wmu.Unlock()
		_ = c.nc.Close()
		c.mu.Lock()
		streams := make([]*Stream, 0, len(c.streams))
		for _, s := range c.streams {
			streams = append(streams, s)
		}
		c.mu.Unlock()
		for _, s := range streams {
			s.gone(ErrStreamGone)
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			c.logger.V(4).Info("Connection ended", "err", err)
		}
		c.srv.forget(c)
	})
}
