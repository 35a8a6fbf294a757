package lookupd

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// addrLimiter limits probes per remote address, so that no domain request,
// however many MX names point at one address, makes the daemon hammer one
// server. The set of limiters is bounded by an LRU.
type addrLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	lims  *lru.Cache[netip.Addr, *rate.Limiter]
}

func newAddrLimiter(size int) *addrLimiter {
	l, _ := lru.New[netip.Addr, *rate.Limiter](max(size, 16))
	return &addrLimiter{limit: rate.Inf, burst: 1, lims: l}
}

// setRate sets the rate of every address, forgetting the old limiters.
func (a *addrLimiter) setRate(limit rate.Limit, burst int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if limit == 0 {
		limit = rate.Inf
	}
	if limit != a.limit || max(burst, 1) != a.burst {
		a.limit, a.burst = limit, max(burst, 1)
		a.lims.Purge()
	}
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
