package origin

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// addrLimiter limits probes per remote IP address (whatever the port), so
// that no burst of requests, however many names and domains lead to one
// server, makes the daemon hammer it. The set of limiters is bounded by an
// LRU.
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

// wait waits for addr's turn, however long the rate makes it; it fails
// only when ctx ends first (and then gives the turn back).
func (a *addrLimiter) wait(ctx context.Context, addr netip.Addr) error {
	a.mu.Lock()
	l, ok := a.lims.Get(addr)
	if !ok {
		l = rate.NewLimiter(a.limit, a.burst)
		a.lims.Add(addr, l)
	}
	a.mu.Unlock()
	r := l.Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return fmt.Errorf("wait for the rate limit of %s: %w", addr, context.Cause(ctx))
	}
}
