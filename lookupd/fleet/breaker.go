package fleet

import (
	"log/slog"
	"sync"
	"time"
)

// Breaker settings: after tripAfter failures in a row Redis is down and
// not asked for a cool-down that starts at minCoolDown and doubles up to
// maxCoolDown while it stays down; then one call tries it again.
const (
	tripAfter   = 2
	minCoolDown = 250 * time.Millisecond
	maxCoolDown = 5 * time.Second
)

// State is what the client knows of Redis.
type State uint8

const (
	StateUnknown State = iota // nothing asked yet
	StateUp                   // the last call worked
	StateDown                 // calls fail: not asked until the cool-down ends
)

func (s State) String() string {
	switch s {
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	}
	return "unknown"
}

// breaker is the circuit breaker in front of Redis. It logs one line per
// change of state (up, down; full and not full for writes refused by
// maxmemory), never one per call.
type breaker struct {
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	state    State
	fails    int
	until    time.Time // down: no call before
	coolDown time.Duration
	trying   bool // down: one call is trying Redis again
	full     bool // writes refused (OOM)
}

// allow reports whether a call may go to Redis now.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != StateDown {
		return true
	}
	if b.trying || b.now().Before(b.until) {
		return false
	}
	b.trying = true
	return true
}

// done records a call's result: err nil for a call that Redis answered
// (a miss is an answer), else the failure.
func (b *breaker) done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trying = false
	if err == nil {
		b.fails = 0
		b.coolDown = 0
		if b.state != StateUp {
			b.log.Info("redis", "state", StateUp.String(), "was", b.state.String())
			b.state = StateUp
		}
		return
	}
	b.fails++
	if b.state != StateDown && b.fails < tripAfter {
		return
	}
	b.coolDown = min(max(2*b.coolDown, minCoolDown), maxCoolDown)
	b.until = b.now().Add(b.coolDown)
	if b.state != StateDown {
		b.log.Warn("redis", "state", StateDown.String(), "was", b.state.String(), "err", err,
			"note", "answering from the local cache and probing alone until Redis is back")
		b.state = StateDown
	}
}

// release ends a call that says nothing of Redis (the caller gave up):
// the state stays as it was.
func (b *breaker) release() {
	b.mu.Lock()
	b.trying = false
	b.mu.Unlock()
}

// setFull records whether Redis refuses writes for want of memory, logging
// each change.
func (b *breaker) setFull(full bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if full == b.full {
		return
	}
	b.full = full
	if full {
		b.log.Warn("redis", "state", "full", "err", err, "note", "writes refused; reads go on")
	} else {
		b.log.Info("redis", "state", "writable")
	}
}

func (b *breaker) current() (State, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state, b.full
}
