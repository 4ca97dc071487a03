package kubeconn

import (
	"net"
	"time"

	"k8s.io/client-go/rest"
)

// Dial timeouts, as client-go's defaults.
const (
	dialTimeout = 30 * time.Second
	keepAlive   = 30 * time.Second
)

// Own returns a copy of config whose clients share no connection with clients of any other
// configuration: client-go caches transports only for configurations without a dial function,
// and each call gives the copy a dial function of its own.
func Own(config *rest.Config) *rest.Config {
	config = rest.CopyConfig(config)
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	config.Dial = dialer.DialContext
	return config
}
