package fleet

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

func testClient(t *testing.T, url string, log *lab.LogBuffer, edit func(*Options)) *Client {
	t.Helper()
	o := Options{URL: url, Prefix: "t:", Timeout: 200 * time.Millisecond, Log: log.Logger()}
	if edit != nil {
		edit(&o)
	}
	c, err := Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestClientCalls: every call against a real Redis, checked with the lab's
// own RESP client (another client than go-redis).
func TestClientCalls(t *testing.T) {
	r := lab.StartRedis(t, lab.RedisOptions{})
	log := &lab.LogBuffer{}
	c := testClient(t, r.URL(), log, nil)
	ctx := tctx(t)

	if _, _, err := c.Get(ctx, c.Key("f", "x")); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get of a missing key: %v, want ErrMiss", err)
	}
	if err := c.Set(ctx, c.Key("f", "x"), []byte("v\r\n1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	v, ttl, err := c.Get(ctx, c.Key("f", "x"))
	if err != nil || string(v) != "v\r\n1" || ttl <= 59*time.Second || ttl > time.Minute {
		t.Fatalf("Get: %q, %v, %v", v, ttl, err)
	}
	if got, err := r.Do(ctx, "PTTL", "t:f:x"); err != nil || got.(int64) <= 59000 {
		t.Errorf("PTTL seen by another client: %v, %v", got, err)
	}
	// A key without an expiry is not one of ours.
	if _, err := r.Do(ctx, "SET", "t:f:forever", "v"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, c.Key("f", "forever")); !errors.Is(err, ErrMiss) {
		t.Errorf("Get of a key without expiry: %v, want ErrMiss", err)
	}

	// The lock: one winner; Unlock with another token leaves it.
	tok, won, err := c.Lock(ctx, c.Key("lock", "a"), time.Minute)
	if err != nil || !won {
		t.Fatalf("Lock: %v, %v", won, err)
	}
	if _, won2, err := c.Lock(ctx, c.Key("lock", "a"), time.Minute); err != nil || won2 {
		t.Fatalf("second Lock: won %v, %v", won2, err)
	}
	if err := c.Unlock(ctx, c.Key("lock", "a"), "not-the-token"); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Do(ctx, "EXISTS", "t:lock:a"); n != int64(1) {
		t.Errorf("Unlock with a wrong token removed the lock")
	}
	_, _, locked, err := c.Watch(ctx, c.Key("f", "a"), c.Key("lock", "a"))
	if !errors.Is(err, ErrMiss) || !locked {
		t.Errorf("Watch while locked without a value: locked %v, %v", locked, err)
	}
	c.Set(ctx, c.Key("f", "a"), []byte("facts"), time.Minute)
	if err := c.Unlock(ctx, c.Key("lock", "a"), tok); err != nil {
		t.Fatal(err)
	}
	v, _, locked, err = c.Watch(ctx, c.Key("f", "a"), c.Key("lock", "a"))
	if err != nil || locked || string(v) != "facts" {
		t.Errorf("Watch after Unlock: %q, locked %v, %v", v, locked, err)
	}

	// The rate limit: burst 2 of one per minute, then a wait near a minute;
	// the scripts survive a Redis restarted empty (NOSCRIPT, then EVAL).
	for i := range 2 {
		if w, err := c.Rate(ctx, c.Key("rate", "a"), time.Minute, 2); err != nil || w != 0 {
			t.Fatalf("Rate %d: wait %v, %v", i, w, err)
		}
	}
	if w, err := c.Rate(ctx, c.Key("rate", "a"), time.Minute, 2); err != nil || w < 59*time.Second || w > time.Minute {
		t.Fatalf("Rate 3: wait %v, %v; want about 1m", w, err)
	}

	// Del and DelPrefix: only the prefix's keys.
	r.Do(ctx, "SET", "other:k", "v")
	for i := range 2500 {
		c.Set(ctx, c.Key("n", strings.Repeat("h", i%7)+string(rune('a'+i%26))+time.Duration(i).String()), []byte("x"), time.Minute)
	}
	if n, err := c.Del(ctx, c.Key("f", "a"), c.Key("f", "none")); err != nil || n != 1 {
		t.Errorf("Del: %d, %v", n, err)
	}
	n, err := c.DelPrefix(ctx)
	if err != nil || n < 2500 {
		t.Errorf("DelPrefix: %d, %v", n, err)
	}
	if size, _ := r.Do(ctx, "DBSIZE"); size != int64(1) {
		t.Errorf("DBSIZE %v after DelPrefix, want 1 (other:k)", size)
	}
	if st := c.Stats(); st.State != "up" || st.Calls["get"] == 0 || st.Errors["get"] != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := log.Count("msg=redis"); n != 1 {
		t.Errorf("%d redis state lines, want 1 (up):\n%s", n, log)
	}
}

// TestClientTLSAndAuth: rediss:// with a CA file, an ACL user, a
// requirepass password and a Unix socket.
func TestClientTLSAndAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    lab.RedisOptions
	}{
		{"tls+user", lab.RedisOptions{TLS: true, User: "relay", Password: "s3cret:/@x"}},
		{"requirepass", lab.RedisOptions{Password: "pw"}},
		{"unix+password", lab.RedisOptions{Unix: true, Password: "pw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := lab.StartRedis(t, tc.o)
			c := testClient(t, r.URL(), &lab.LogBuffer{}, func(o *Options) { o.CAFile = r.CertFile })
			ctx := tctx(t)
			if err := c.Set(ctx, c.Key("k"), []byte("v"), time.Minute); err != nil {
				t.Fatalf("Set over %s: %v", r.URL(), err)
			}
			if v, err := r.Do(ctx, "GET", "t:k"); err != nil || v != "v" {
				t.Errorf("GET by the lab's client: %v, %v", v, err)
			}
		})
	}
}

// TestClientBreaker: a Redis absent at start, killed, frozen, with a wrong
// password or full: calls fail fast once it is known down (ErrDown, no
// call made), one log line per change of state, and the client comes back
// by itself.
func TestClientBreaker(t *testing.T) {
	r := lab.StartRedis(t, lab.RedisOptions{Password: "pw", MaxMemory: 2 << 20})
	log := &lab.LogBuffer{}
	var observed atomic.Int64
	c := testClient(t, r.URL(), log, func(o *Options) {
		o.Observe = func(Op, time.Duration, error) { observed.Add(1) }
	})
	ctx := tctx(t)
	key := c.Key("k")

	if err := c.Set(ctx, key, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	r.Kill()
	// Killed: the calls fail, the breaker opens, then calls are not made.
	var errs []error
	for range 50 {
		_, _, err := c.Get(ctx, key)
		errs = append(errs, err)
	}
	if !errors.Is(errs[len(errs)-1], ErrDown) || errors.Is(errs[0], ErrDown) {
		t.Errorf("after a kill: first error %v, last %v; want a failure, then ErrDown", errs[0], errs[len(errs)-1])
	}
	if n := observed.Load(); n > 2+tripAfter {
		t.Errorf("%d calls went to a dead Redis, want at most %d", n, 2+tripAfter)
	}
	r.Restart() // empty, same address
	// Back: the next try after the cool-down works.
	lab.WaitFor(t, "redis up again", func() bool {
		err := c.Set(ctx, key, []byte("v"), time.Minute)
		return err == nil
	})
	if got := log.Count("msg=redis", "state=down"); got != 1 {
		t.Errorf("%d 'down' lines for one outage, want 1:\n%s", got, log)
	}
	if got := log.Count("msg=redis", "state=up"); got != 2 {
		t.Errorf("%d 'up' lines (start, back), want 2:\n%s", got, log)
	}

	// Frozen: each call costs at most the timeout, then none while down.
	r.Freeze()
	start := time.Now()
	var made int // calls that went to Redis: each waits for the timeout
	for range 20 {
		t0 := time.Now()
		_, _, err := c.Get(ctx, key)
		if !errors.Is(err, ErrDown) {
			made++
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("a call to a frozen Redis took %v, timeout 200ms", d)
		}
	}
	t.Logf("figure: 20 calls to a frozen Redis took %v in all, %d of them made", time.Since(start).Round(time.Millisecond), made)
	if made > tripAfter+1 {
		t.Errorf("%d calls waited for a frozen Redis, want at most %d", made, tripAfter+1)
	}
	r.Thaw()
	lab.WaitFor(t, "redis up after thaw", func() bool { return c.Set(ctx, key, []byte("v"), time.Minute) == nil })

	// Full: writes fail with OOM, reads go on, one line each way.
	big := []byte(strings.Repeat("x", 64<<10))
	var oom error
	for i := 0; i < 200 && oom == nil; i++ {
		oom = c.Set(ctx, c.Key("big", string(rune('a'+i%26)), time.Duration(i).String()), big, time.Minute)
	}
	if oom == nil || !strings.Contains(oom.Error(), "OOM") {
		t.Fatalf("no OOM under a 2 MiB limit: %v", oom)
	}
	for range 5 {
		c.Set(ctx, c.Key("more"), big, time.Minute)
	}
	if _, _, err := c.Get(ctx, key); err != nil {
		t.Errorf("read while full: %v", err)
	}
	if c.State() != StateUp {
		t.Errorf("state %v while full, want up", c.State())
	}
	if got := log.Count("msg=redis", "state=full"); got != 1 {
		t.Errorf("%d 'full' lines, want 1:\n%s", got, log)
	}
	c.DelPrefix(ctx)
	if err := c.Set(ctx, key, []byte("v"), time.Minute); err != nil {
		t.Fatalf("write after freeing memory: %v", err)
	}
	if got := log.Count("msg=redis", "state=writable"); got != 1 {
		t.Errorf("%d 'writable' lines, want 1", got)
	}
	t.Logf("log:\n%s", log)
}

// TestClientAbsentAndWrongPassword: a Redis that is not there at start,
// and one that refuses the password, are down (one line each), never an
// error of New; concurrent callers meanwhile fail fast.
func TestClientAbsentAndWrongPassword(t *testing.T) {
	r := lab.StartRedis(t, lab.RedisOptions{Password: "right"})
	url := strings.Replace(r.URL(), ":right@", ":wrong@", 1)
	log := &lab.LogBuffer{}
	c := testClient(t, url, log, nil)
	ctx := tctx(t)
	var wg sync.WaitGroup
	var downs atomic.Int64
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, _, err := c.Get(ctx, c.Key("k")); errors.Is(err, ErrDown) {
					downs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if downs.Load() == 0 || c.State() != StateDown {
		t.Errorf("wrong password: state %v, %d ErrDown of 160", c.State(), downs.Load())
	}
	if got := log.Count("msg=redis", "state=down"); got != 1 {
		t.Errorf("%d 'down' lines, want 1:\n%s", got, log)
	}
	if !strings.Contains(log.String(), "WRONGPASS") {
		t.Errorf("the down line does not say why:\n%s", log)
	}

	r.Kill()
	log2 := &lab.LogBuffer{}
	c2 := testClient(t, strings.Replace(r.URL(), ":right@", ":right@", 1), log2, nil)
	for range 10 {
		c2.Get(ctx, c2.Key("k"))
	}
	if c2.State() != StateDown || log2.Count("state=down") != 1 {
		t.Errorf("absent at start: state %v, log:\n%s", c2.State(), log2)
	}
	r.Restart()
	lab.WaitFor(t, "up after start", func() bool {
		_, _, err := c2.Get(ctx, c2.Key("k"))
		return errors.Is(err, ErrMiss)
	})
}
