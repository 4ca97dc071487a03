package wire

import "github.com/quic-go/quic-go"

// QUICConfig is the QUIC configuration of both ends of a tunnel hop: the windows above,
// keepalives that hold an idle tunnel open, and no unidirectional streams. incomingStreams is
// how many bidirectional streams the other side may open: one for the router (a tunnel is one
// stream), none for a peer (-1).
func QUICConfig(incomingStreams int64) *quic.Config {
	return &quic.Config{
		InitialStreamReceiveWindow:     QUICInitialStreamWindow,
		MaxStreamReceiveWindow:         QUICMaxStreamWindow,
		InitialConnectionReceiveWindow: QUICInitialConnWindow,
		MaxConnectionReceiveWindow:     QUICMaxConnWindow,
		KeepAlivePeriod:                KeepaliveTime,
		MaxIdleTimeout:                 QUICMaxIdleTimeout,
		MaxIncomingStreams:             incomingStreams,
		MaxIncomingUniStreams:          -1,
	}
}
