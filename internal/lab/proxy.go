package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Balance is how a Proxy picks the backend of each connection.
type Balance uint8

const (
	// RoundRobin: the backends in turn, the first connection to the first.
	RoundRobin Balance = iota
	// Random: a backend drawn from a generator seeded with ProxyOptions.Seed
	// (the same seed, the same sequence of backends).
	Random
)

func (b Balance) String() string {
	switch b {
	case RoundRobin:
		return "round robin"
	case Random:
		return "random"
	}
	return fmt.Sprintf("Balance(%d)", uint8(b))
}

// ProxyOptions configure StartProxy.
type ProxyOptions struct {
	// Backends are the addresses ("ip:port") connections are forwarded to.
	Backends []string
	Balance  Balance
	// Seed seeds Random's generator.
	Seed uint64
	// Dial connects to a backend; nil is a net.Dialer's DialContext. A test
	// gives its own to reach backends inside a network namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Idle bounds each read and each write of a forwarded connection (and
	// the dial): a side silent for longer ends the connection. 0 = 30s.
	Idle time.Duration
}

// ProxyDefaultIdle is ProxyOptions.Idle's default.
const ProxyDefaultIdle = 30 * time.Second

// Proxy is a TCP balancer for tests, like a load balancer in front of
// several servers at one address: each connection accepted on its listener
// goes, whole, to one backend. Bytes are copied as they come, both ways; a
// half-close (FIN) on one side is passed on to the other, and the
// connection ends when both directions have ended. Nothing is read or
// changed: TLS passes through.
type Proxy struct {
	ln        net.Listener
	o         ProxyOptions
	cancel    context.CancelFunc
	stop      func() bool   // stops the AfterFunc that runs shut when ctx ends
	shutAt    chan struct{} // closed when that AfterFunc has run shut
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu      sync.Mutex
	next    int // RoundRobin
	rng     *rand.Rand
	counts  []int
	failed  int // dials that failed
	open    map[net.Conn]struct{}
	closed  bool
	acceptE error // why the accept loop ended, if not Close or ctx
}

// StartProxy forwards the connections ln accepts to o.Backends until ctx
// ends or Close is called; the Proxy owns ln.
func StartProxy(ctx context.Context, ln net.Listener, o ProxyOptions) (*Proxy, error) {
	if len(o.Backends) == 0 {
		return nil, errors.New("start proxy: no backends")
	}
	if o.Balance != RoundRobin && o.Balance != Random {
		return nil, fmt.Errorf("start proxy: %v", o.Balance)
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	if o.Idle <= 0 {
		o.Idle = ProxyDefaultIdle
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Proxy{ln: ln, o: o, cancel: cancel, counts: make([]int, len(o.Backends)),
		open: make(map[net.Conn]struct{}), rng: rand.New(rand.NewPCG(o.Seed, o.Seed)), shutAt: make(chan struct{})}
	p.stop = context.AfterFunc(ctx, func() { p.shut(); close(p.shutAt) })
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.accept(ctx)
	}()
	return p, nil
}

// Addr is the listener's address.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// Counts are the connections sent to each backend so far (in Backends
// order), whether or not the dial succeeded.
func (p *Proxy) Counts() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.counts...)
}

// Failed is the number of connections whose backend could not be dialled.
func (p *Proxy) Failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// Close stops accepting, ends every forwarded connection and returns when
// every goroutine of the proxy has ended, with the error that ended the
// accept loop early, if any.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		if p.stop() {
			p.shut() // ctx has not ended: shut here, not in the AfterFunc
		} else {
			<-p.shutAt
		}
		p.cancel() // dials in progress end
		p.wg.Wait()
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acceptE
}

// shut closes the listener and every open connection (ctx ended).
func (p *Proxy) shut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.ln.Close()
	for c := range p.open {
		c.Close()
	}
}

// track registers c to be closed by shut; false when shut has run.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	c.Close()
}

// pick chooses the backend of the next connection and counts it.
func (p *Proxy) pick() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var i int
	switch p.o.Balance {
	case RoundRobin:
		i = p.next
		p.next = (p.next + 1) % len(p.o.Backends)
	case Random:
		i = p.rng.IntN(len(p.o.Backends))
	}
	p.counts[i]++
	return i
}

// accept runs until ctx ends (shut closes the listener) or Accept fails.
func (p *Proxy) accept(ctx context.Context) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			p.mu.Lock()
			if !p.closed {
				p.acceptE = fmt.Errorf("proxy accept: %w", err)
			}
			p.mu.Unlock()
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		i := p.pick() // here, not in the goroutine: backends in accept order
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.forward(ctx, c, i)
		}()
	}
}

// forward dials backend i and copies both ways until both directions end.
func (p *Proxy) forward(ctx context.Context, c net.Conn, i int) {
	dctx, cancel := context.WithTimeout(ctx, p.o.Idle)
	b, err := p.o.Dial(dctx, "tcp", p.o.Backends[i])
	cancel()
	if err != nil {
		p.mu.Lock()
		p.failed++
		p.mu.Unlock()
		return
	}
	if !p.track(b) {
		b.Close()
		return
	}
	defer p.untrack(b)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(b, c) }()
	go func() { defer wg.Done(); p.pipe(c, b) }()
	wg.Wait()
}

// pipe copies src to dst, every read and write under the Idle deadline.
// At src's EOF it half-closes dst (the FIN passes on); on any error it
// closes both, which ends the other direction too.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		src.SetReadDeadline(time.Now().Add(p.o.Idle))
		n, rerr := src.Read(buf)
		if n > 0 {
			dst.SetWriteDeadline(time.Now().Add(p.o.Idle))
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				dst.Close()
				return
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			if hc, ok := dst.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
				return
			}
			fallthrough
		default:
			src.Close()
			dst.Close()
			return
		}
	}
}
