package lookupd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// addrLimiter limits connections per remote address, so that no domain
// request, however many name the same host, makes the daemon hammer one
// server. The set of limiters is bounded by an LRU.
type addrLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	lims  *lru.Cache[netip.Addr, *rate.Limiter]
}

func newAddrLimiter(limit rate.Limit, burst, size int) *addrLimiter {
	l, _ := lru.New[netip.Addr, *rate.Limiter](max(size, 16))
	return &addrLimiter{limit: limit, burst: max(burst, 1), lims: l}
}

func (a *addrLimiter) wait(ctx context.Context, addr netip.Addr) error {
	a.mu.Lock()
	l, ok := a.lims.Get(addr)
	if !ok {
		l = rate.NewLimiter(a.limit, a.burst)
		a.lims.Add(addr, l)
	}
	a.mu.Unlock()
	if err := l.Wait(ctx); err != nil {
		return fmt.Errorf("wait for the rate limit of %s: %w", addr, err)
	}
	return nil
}

// dial is the probes' dialer: rate-limited per address.
func (s *Service) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("parse address %q: %w", addr, err)
	}
	if err := s.limiter.wait(ctx, ap.Addr()); err != nil {
		return nil, err
	}
	return probe.Dial(ctx, s.st.Load().probe.SourceAddr, network, addr)
}
