package fleet

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Errors of the client's calls, for callers that branch.
var (
	// ErrMiss: Redis answered and has no such key.
	ErrMiss = errors.New("fleet: not in redis")
	// ErrDown: Redis is down (the breaker is open); it was not asked.
	ErrDown = errors.New("fleet: redis down")
)

// Options configure a Client.
type Options struct {
	URL     string        // redis://, rediss:// or unix:// (config.RedisConfig.URL)
	Prefix  string        // starts every key
	Timeout time.Duration // of each call
	CAFile  string        // PEM roots for rediss://; "" = the system's
	Log     *slog.Logger
	// Observe, when set, is told of every call that went to Redis: what,
	// how long it took, and its error (nil for an answer, a miss included).
	Observe func(op Op, took time.Duration, err error)
}

// Op is a kind of Redis call, for counters and metrics.
type Op uint8

const (
	OpGet    Op = iota // GET and PTTL of a value
	OpSet              // SET of a value with its expiry
	OpLock             // SET NX PX of a probe lock
	OpUnlock           // compare and delete of a lock
	OpWatch            // GET, PTTL of a value and EXISTS of its lock, while another relay probes
	OpRate             // the fleet's rate limit (a script)
	OpDel              // DEL (flush)
	OpScan             // SCAN and UNLINK of the prefix (flush all)
	OpChain            // a read script of the caller's (Run)
	NumOps
)

// Ops are every Op, in order.
var Ops = [NumOps]Op{OpGet, OpSet, OpLock, OpUnlock, OpWatch, OpRate, OpDel, OpScan, OpChain}

func (o Op) String() string {
	return [...]string{"get", "set", "lock", "unlock", "watch", "rate", "del", "scan", "chain"}[o]
}

// Client is a fleet's Redis. It dials lazily and reconnects by itself; a
// Redis absent or down costs callers ErrDown at once while the breaker is
// open. Safe for concurrent use.
type Client struct {
	rdb     *redis.Client
	prefix  string
	timeout time.Duration
	br      breaker
	observe func(Op, time.Duration, error)

	calls, errs [NumOps]atomic.Uint64
	skipped     atomic.Uint64 // calls not made: down
}

// quietLog is go-redis's own logger: its lines (a failed dial per call)
// would repeat per request, which the breaker's one line per change of
// state replaces. They go to slog at debug level.
type quietLog struct{}

func (quietLog) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "go-redis", "msg", fmt.Sprintf(format, v...))
}

var setLogger sync.Once

// Dial makes a client; it does not dial yet (a Redis absent at start is not an
// error: it is down until it answers).
func Dial(o Options) (*Client, error) {
	setLogger.Do(func() { redis.SetLogger(quietLog{}) })
	ro, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	if o.Timeout <= 0 {
		return nil, errors.New("create redis client: no timeout")
	}
	ro.Protocol = 2 // RESP2: nothing pushed, Redis 6+ and Valkey alike
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = o.Timeout, o.Timeout, o.Timeout, o.Timeout
	ro.ContextTimeoutEnabled = true
	ro.PoolSize = 64 // loads wait for other relays' probes by polling, many at once
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if o.CAFile != "" && ro.TLSConfig != nil {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read redis ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read redis ca_file %s: no PEM certificate", o.CAFile)
		}
		ro.TLSConfig.RootCAs = pool
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	c := &Client{rdb: redis.NewClient(ro), prefix: o.Prefix, timeout: o.Timeout, observe: o.Observe}
	c.br = breaker{log: log, now: time.Now}
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error { return c.rdb.Close() }

// Key is the prefix, then the parts joined by ":".
func (c *Client) Key(parts ...string) string { return c.prefix + strings.Join(parts, ":") }

// do runs one call within the timeout, through the breaker, and counts it.
// A miss (redis.Nil) is an answer and comes back as ErrMiss.
func (c *Client) do(ctx context.Context, op Op, fn func(ctx context.Context) error) error {
	if !c.br.allow() {
		c.skipped.Add(1)
		return ErrDown
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	err := fn(cctx)
	took := time.Since(start)
	if errors.Is(err, redis.Nil) {
		err = ErrMiss
	}
	c.calls[op].Add(1)
	answered := err == nil || errors.Is(err, ErrMiss)
	switch {
	case answered:
		c.br.done(nil)
		if op == OpSet || op == OpLock {
			c.br.setFull(false, nil)
		}
	case isOOM(err):
		c.br.done(nil) // Redis answered: it is up, only full
		c.br.setFull(true, err)
	case ctx.Err() != nil, errors.Is(err, redis.ErrPoolTimeout):
		// The caller gave up (the service closes), or every connection was
		// busy with other calls: says nothing of Redis.
		c.br.release()
	default:
		c.br.done(err)
	}
	if !answered {
		c.errs[op].Add(1)
		err = fmt.Errorf("redis %s: %w", op, err)
	}
	if c.observe != nil {
		c.observe(op, took, err)
	}
	return err
}

func isOOM(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "OOM ")
}

// Get returns key's value and how long it has left to live.
func (c *Client) Get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	var val []byte
	var ttl time.Duration
	err := c.do(ctx, OpGet, func(ctx context.Context) error {
		var get *redis.StringCmd
		var pttl *redis.DurationCmd
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, key)
			pttl = p.PTTL(ctx, key)
			return nil
		})
		if err != nil {
			return err
		}
		val, ttl = []byte(get.Val()), pttl.Val()
		if ttl <= 0 { // expired between the two, or no expiry: not ours
			return redis.Nil
		}
		return nil
	})
	return val, ttl, err
}

// Set stores val under key for ttl.
func (c *Client) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return nil // nothing left to share
	}
	return c.do(ctx, OpSet, func(ctx context.Context) error {
		return c.rdb.Set(ctx, key, val, ttl).Err()
	})
}

// Lock tries to take key for ttl (SET NX PX). It returns the token that
// Unlock needs, and whether the lock was taken.
func (c *Client) Lock(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	var won bool
	err := c.do(ctx, OpLock, func(ctx context.Context) error {
		var err error
		won, err = c.rdb.SetNX(ctx, key, token, ttl).Result()
		return err
	})
	return token, won, err
}

// unlockScript deletes a lock only if it still holds the caller's token: a
// lock that expired and was taken by another relay stays theirs.
var unlockScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// Unlock releases a lock that Lock took with token.
func (c *Client) Unlock(ctx context.Context, key, token string) error {
	return c.do(ctx, OpUnlock, func(ctx context.Context) error {
		return unlockScript.Run(ctx, c.rdb, []string{key}, token).Err()
	})
}

// Watch returns valKey's value and time to live (ErrMiss when absent) and
// whether lockKey is held, in one round trip.
func (c *Client) Watch(ctx context.Context, valKey, lockKey string) (val []byte, ttl time.Duration, locked bool, err error) {
	err = c.do(ctx, OpWatch, func(ctx context.Context) error {
		var get *redis.StringCmd
		var pttl *redis.DurationCmd
		var held *redis.IntCmd
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, valKey)
			pttl = p.PTTL(ctx, valKey)
			held = p.Exists(ctx, lockKey)
			return nil
		})
		locked = held.Val() > 0
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		val, ttl = []byte(get.Val()), pttl.Val()
		if get.Err() != nil || ttl <= 0 {
			return redis.Nil
		}
		return nil
	})
	return val, ttl, locked, err
}

// rateScript is GCRA: KEYS[1] holds the theoretical arrival time (ms, by
// Redis's clock); ARGV are the interval (ms) and the burst. It returns 0
// and takes a turn, or the ms to wait for one.
var rateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local early = tat - now - (burst - 1) * interval
if early > 0 then return early end
tat = tat + interval
redis.call('SET', KEYS[1], tat, 'PX', tat - now + 1)
return 0`)

// Rate takes a turn of key's rate limit (one per every, burst at once),
// shared by every relay; it returns 0, or how long to wait for a turn.
func (c *Client) Rate(ctx context.Context, key string, every time.Duration, burst int) (time.Duration, error) {
	var wait int64
	err := c.do(ctx, OpRate, func(ctx context.Context) error {
		var err error
		wait, err = rateScript.Run(ctx, c.rdb, []string{key}, every.Milliseconds(), max(burst, 1)).Int64()
		return err
	})
	return time.Duration(wait) * time.Millisecond, err
}

// Del deletes keys and returns how many there were.
func (c *Client) Del(ctx context.Context, keys ...string) (int, error) {
	var n int64
	err := c.do(ctx, OpDel, func(ctx context.Context) error {
		var err error
		n, err = c.rdb.Del(ctx, keys...).Result()
		return err
	})
	return int(n), err
}

// DelPrefix deletes every key under the prefix (SCAN and UNLINK, a batch
// at a time, each batch a call) and returns how many it deleted.
func (c *Client) DelPrefix(ctx context.Context) (int, error) {
	var cursor uint64
	total := 0
	for {
		var keys []string
		err := c.do(ctx, OpScan, func(ctx context.Context) error {
			var err error
			keys, cursor, err = c.rdb.Scan(ctx, cursor, c.prefix+"*", 1000).Result()
			if err == nil && len(keys) > 0 {
				var n int64
				n, err = c.rdb.Unlink(ctx, keys...).Result()
				total += int(n)
			}
			return err
		})
		if err != nil {
			return total, err
		}
		if cursor == 0 {
			return total, nil
		}
	}
}

// Script is a Lua script for Run.
type Script struct{ s *redis.Script }

// NewScript is src as a Script (sent by its SHA1, and whole when Redis
// does not know it, as after a restart).
func NewScript(src string) *Script { return &Script{redis.NewScript(src)} }

// Triple is one value a script returned: its key, the value and what is
// left of its expiry.
type Triple struct {
	Key string
	Val []byte
	TTL time.Duration
}

// RunTriples runs a read-only script that returns a flat array of key,
// value, PTTL (ms) and returns them; malformed entries are left out.
func (c *Client) RunTriples(ctx context.Context, s *Script, keys []string, args ...any) ([]Triple, error) {
	var out []Triple
	err := c.do(ctx, OpChain, func(ctx context.Context) error {
		v, err := s.s.Run(ctx, c.rdb, keys, args...).Slice()
		if err != nil {
			return err
		}
		for i := 0; i+2 < len(v); i += 3 {
			k, ok1 := v[i].(string)
			val, ok2 := v[i+1].(string)
			ms, ok3 := v[i+2].(int64)
			if ok1 && ok2 && ok3 && ms > 0 {
				out = append(out, Triple{Key: k, Val: []byte(val), TTL: time.Duration(ms) * time.Millisecond})
			}
		}
		return nil
	})
	return out, err
}

// Stats are the client's counters.
type Stats struct {
	State   string            `json:"state"` // up, down, unknown
	Full    bool              `json:"full,omitempty"`
	Calls   map[string]uint64 `json:"calls"`  // by Op, made
	Errors  map[string]uint64 `json:"errors"` // by Op, failed
	Skipped uint64            `json:"skipped"`
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	st, full := c.br.current()
	s := Stats{State: st.String(), Full: full, Calls: map[string]uint64{}, Errors: map[string]uint64{}, Skipped: c.skipped.Load()}
	for _, op := range Ops {
		s.Calls[op.String()] = c.calls[op].Load()
		s.Errors[op.String()] = c.errs[op].Load()
	}
	return s
}

// State is what the client knows of Redis now.
func (c *Client) State() State {
	st, _ := c.br.current()
	return st
}
