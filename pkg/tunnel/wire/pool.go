package wire

import (
	"sync"

	"google.golang.org/grpc/mem"
)

// poolTiers are the buffer sizes the pool keeps: gRPC's small and HTTP/2 frame sizes, and a
// tier that holds a full DATA frame of MaxFrameMessage with its header, which a 64 KiB tier
// would miss by six bytes.
var poolTiers = []int{256, 4 << 10, 16 << 10, 32 << 10, MaxFrameMessage + 64, 1 << 20}

// pool is a mem.BufferPool that does not zero the buffers it hands out. grpc-go's default
// pool clears every buffer on Get, which on a tunnel costs as much CPU as AES-GCM: every
// byte forwarded is written twice. Every user of this pool overwrites what it reads (the
// transport reads a frame into exactly its length; a writer fills what it sends).
type pool struct {
	tiers []sync.Pool
}

var tunnelPool = newPool()

// BufferPool is the buffer pool of tunnel hops (grpc experimental.BufferPool and
// experimental.WithBufferPool): shared, and without zeroing.
func BufferPool() mem.BufferPool { return tunnelPool }

func newPool() *pool {
	p := &pool{tiers: make([]sync.Pool, len(poolTiers))}
	for i, size := range poolTiers {
		p.tiers[i].New = func() any {
			b := make([]byte, size)
			return &b
		}
	}
	return p
}

// Get returns a buffer of length n, from the smallest tier that holds it.
func (p *pool) Get(n int) *[]byte {
	for i, size := range poolTiers {
		if n <= size {
			b := p.tiers[i].Get().(*[]byte)
			*b = (*b)[:n]
			return b
		}
	}
	b := make([]byte, n)
	return &b
}

// Put keeps a buffer in the largest tier its capacity fills.
func (p *pool) Put(b *[]byte) {
	c := cap(*b)
	for i := len(poolTiers) - 1; i >= 0; i-- {
		if c >= poolTiers[i] {
			*b = (*b)[:poolTiers[i]]
			p.tiers[i].Put(b)
			return
		}
	}
}
