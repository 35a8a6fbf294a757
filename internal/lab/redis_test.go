package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// redisCLI runs Debian's redis-cli (a second, independent client) and
// returns its trimmed output.
func redisCLI(t *testing.T, args ...string) string {
	t.Helper()
	Require(t, "redis-cli")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := execOutput(ctx, "redis-cli", args...)
	// redis-cli warns on stderr about a password on the command line.
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "Warning: Using a password") && l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// do runs a command that must succeed and returns its reply.
func do(t *testing.T, r *Redis, args ...string) any {
	t.Helper()
	v, err := r.Do(ctxT(t, 10*time.Second), args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// wantRedisError checks that err is an error reply starting with prefix.
func wantRedisError(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	var re RedisError
	if !errors.As(err, &re) || re.Prefix() != prefix {
		t.Errorf("%s: error %v, want a %s reply", what, err, prefix)
	}
}

func TestStartRedisTCP(t *testing.T) {
	r := StartRedis(t, RedisOptions{})
	if want := fmt.Sprintf("redis://127.0.0.1:%d/0", r.Addr.Port()); r.URL() != want {
		t.Errorf("URL %q, want %q", r.URL(), want)
	}
	if v := do(t, r, "SET", "k", "v\r\nwith CRLF"); v != "OK" {
		t.Errorf("SET: %q", v)
	}
	if v := do(t, r, "GET", "k"); v != "v\r\nwith CRLF" {
		t.Errorf("GET: %q", v)
	}
	if v := do(t, r, "GET", "missing"); v != nil {
		t.Errorf("GET missing: %#v", v)
	}
	// The server is the test's own: no persistence configured.
	if v := do(t, r, "CONFIG", "GET", "save"); fmt.Sprint(v) != "[save ]" {
		t.Errorf("CONFIG GET save: %v", v)
	}
	// redis-cli understands the URL and sees the same data.
	if got := redisCLI(t, "-u", r.URL(), "GET", "k"); got != "v\r\nwith CRLF" && got != `"v\r\nwith CRLF"` {
		t.Errorf("redis-cli -u %s GET k: %q", r.URL(), got)
	}
}

func TestStartRedisUnix(t *testing.T) {
	r := StartRedis(t, RedisOptions{Unix: true})
	if fi, err := os.Stat(r.Socket); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %s: %v %v", r.Socket, fi, err)
	}
	if want := "unix://" + r.Socket; r.URL() != want || !strings.HasPrefix(r.URL(), "unix:///") {
		t.Errorf("URL %q, want %q", r.URL(), want)
	}
	do(t, r, "SET", "k", "v")
	if got := redisCLI(t, "-s", r.Socket, "GET", "k"); got != "v" {
		t.Errorf("redis-cli -s GET k: %q", got)
	}
	if n, a := r.Network(); n != "unix" || a != r.Socket {
		t.Errorf("Network() = %s %s", n, a)
	}
}

// TestStartRedisPassword: requirepass refuses commands before AUTH and a
// wrong password.
func TestStartRedisPassword(t *testing.T) {
	r := StartRedis(t, RedisOptions{Password: "s3cret/@:x"})
	ctx := ctxT(t, 10*time.Second)
	c, err := r.DialRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Do(ctx, "GET", "k")
	wantRedisError(t, "GET without AUTH", err, "NOAUTH")
	_, err = c.Do(ctx, "AUTH", "wrong")
	wantRedisError(t, "AUTH wrong", err, "WRONGPASS")
	if v, err := c.Do(ctx, "AUTH", "s3cret/@:x"); v != "OK" || err != nil {
		t.Errorf("AUTH: %v %v", v, err)
	}
	if v, err := c.Do(ctx, "PING"); v != "PONG" || err != nil {
		t.Errorf("PING after AUTH: %v %v", v, err)
	}
	if want := fmt.Sprintf("redis://:s3cret%%2F%%40%%3Ax@127.0.0.1:%d/0", r.Addr.Port()); r.URL() != want {
		t.Errorf("URL %q, want %q", r.URL(), want)
	}
	// redis-cli 7.0 reads redis://:PASS@ as user "" (AUTH "" PASS, refused);
	// the default user's name makes it send AUTH default PASS.
	withDefault := strings.Replace(r.URL(), "://:", "://default:", 1)
	if got := redisCLI(t, "-u", withDefault, "PING"); got != "PONG" {
		t.Errorf("redis-cli -u %s PING: %q", withDefault, got)
	}
	noPass := strings.Replace(r.URL(), ":s3cret%2F%40%3Ax@", "", 1)
	if got := redisCLI(t, "-u", noPass, "PING"); !strings.Contains(got, "NOAUTH") {
		t.Errorf("redis-cli -u %s PING: %q, want NOAUTH", noPass, got)
	}

	u := StartRedis(t, RedisOptions{Unix: true, Password: "pw"})
	if want := "unix://:pw@" + u.Socket; u.URL() != want {
		t.Errorf("URL %q, want %q", u.URL(), want)
	}
	do(t, u, "PING")
}

// TestStartRedisACLUser: the ACL user gets in with its password; the
// default user is off.
func TestStartRedisACLUser(t *testing.T) {
	r := StartRedis(t, RedisOptions{User: "fleet", Password: "pw"})
	ctx := ctxT(t, 10*time.Second)
	c, err := r.DialRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Do(ctx, "PING")
	wantRedisError(t, "PING without AUTH", err, "NOAUTH")
	_, err = c.Do(ctx, "AUTH", "pw") // the default user with the right password
	wantRedisError(t, "AUTH as default", err, "WRONGPASS")
	_, err = c.Do(ctx, "AUTH", "fleet", "nope")
	wantRedisError(t, "AUTH fleet nope", err, "WRONGPASS")
	if v := do(t, r, "ACL", "WHOAMI"); v != "fleet" {
		t.Errorf("ACL WHOAMI: %v", v)
	}
	if want := fmt.Sprintf("redis://fleet:pw@127.0.0.1:%d/0", r.Addr.Port()); r.URL() != want {
		t.Errorf("URL %q, want %q", r.URL(), want)
	}
	if got := redisCLI(t, "-u", r.URL(), "ACL", "WHOAMI"); got != "fleet" {
		t.Errorf("redis-cli -u %s ACL WHOAMI: %q", r.URL(), got)
	}
}

// TestStartRedisTLS: a verified TLS handshake works; plain RESP on the TLS
// port gets no answer but a closed connection.
func TestStartRedisTLS(t *testing.T) {
	r := StartRedis(t, RedisOptions{TLS: true, Password: "pw"})
	if want := fmt.Sprintf("rediss://:pw@127.0.0.1:%d/0", r.Addr.Port()); r.URL() != want {
		t.Errorf("URL %q, want %q", r.URL(), want)
	}
	ctx := ctxT(t, 10*time.Second)
	c, err := r.Dial(ctx) // TLS, verifying the certificate for 127.0.0.1
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	if v, err := c.Do(ctx, "PING"); v != "PONG" || err != nil {
		t.Errorf("PING over TLS: %v %v", v, err)
	}

	var d net.Dialer
	plain, err := d.DialContext(ctx, "tcp", r.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	pc := NewRESPConn(plain)
	defer pc.Close()
	v, err := pc.Do(ctx, "PING")
	var re RedisError
	if err == nil || errors.As(err, &re) || isTimeout(err) {
		t.Errorf("plain PING on the TLS port: %v, %v; want the connection closed", v, err)
	}
	t.Logf("plain PING on the TLS port: %v", err)

	withDefault := strings.Replace(r.URL(), "://:", "://default:", 1) // see TestStartRedisPassword
	if got := redisCLI(t, "-u", withDefault, "--cacert", r.CertFile, "PING"); got != "PONG" {
		t.Errorf("redis-cli -u %s --cacert PING: %q", withDefault, got)
	}
	if got := redisCLI(t, "-u", strings.Replace(withDefault, "rediss:", "redis:", 1), "PING"); got == "PONG" {
		t.Errorf("redis-cli without TLS got PONG")
	}
}

// TestStartRedisMaxMemory: with noeviction, writes fail with OOM once the
// memory is used, and nothing written before is evicted.
func TestStartRedisMaxMemory(t *testing.T) {
	r := StartRedis(t, RedisOptions{MaxMemory: 4 << 20})
	if v := do(t, r, "CONFIG", "GET", "maxmemory-policy"); fmt.Sprint(v) != "[maxmemory-policy noeviction]" {
		t.Errorf("policy: %v", v)
	}
	ctx := ctxT(t, 30*time.Second)
	c, err := r.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	value := strings.Repeat("x", 64<<10)
	written := 0
	for ; written < 200; written++ { // 200 x 64 KiB = 12.5 MiB, three times the limit
		if _, err = c.Do(ctx, "SET", fmt.Sprint("k", written), value); err != nil {
			break
		}
	}
	wantRedisError(t, fmt.Sprintf("SET after %d values", written), err, "OOM")
	if written == 0 || written >= 64 {
		t.Errorf("%d values of 64 KiB written under a 4 MiB limit", written)
	}
	if v := do(t, r, "DBSIZE"); v != int64(written) {
		t.Errorf("DBSIZE %v after %d writes: something was evicted", v, written)
	}
	if v := do(t, r, "GET", "k0"); v != value {
		t.Errorf("first value lost")
	}
}

// TestStartRedisKillRestart: Kill breaks open connections and refuses new
// ones; Restart serves again, empty, on the same address.
func TestStartRedisKillRestart(t *testing.T) {
	for _, o := range []RedisOptions{{}, {Unix: true}, {TLS: true}} {
		t.Run(fmt.Sprintf("unix=%v tls=%v", o.Unix, o.TLS), func(t *testing.T) {
			r := StartRedis(t, o)
			url := r.URL()
			do(t, r, "SET", "k", "v")
			ctx := ctxT(t, 10*time.Second)
			c, err := r.Dial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r.Kill()
			if v, err := c.Do(ctx, "PING"); err == nil || isTimeout(err) {
				t.Errorf("PING on a connection to the killed server: %v, %v", v, err)
			}
			if _, err := r.Do(ctx, "PING"); err == nil || !strings.Contains(err.Error(), "dial redis") {
				t.Errorf("dial after Kill: %v, want a refused connection", err)
			}
			r.Restart()
			if r.URL() != url {
				t.Errorf("URL after restart %q, was %q", r.URL(), url)
			}
			if v := do(t, r, "GET", "k"); v != nil {
				t.Errorf("GET after restart: %q, want nothing", v)
			}
			if v := do(t, r, "DBSIZE"); v != int64(0) {
				t.Errorf("DBSIZE after restart: %v", v)
			}
		})
	}
}

// TestStartRedisSlow: Pause holds replies for its duration; Freeze holds
// them until Thaw. Each time a PING gets no reply within a short deadline,
// then its reply on the same connection once the server goes on.
func TestStartRedisSlow(t *testing.T) {
	r := StartRedis(t, RedisOptions{})
	ctx := ctxT(t, 30*time.Second)
	held := func(what string, release func()) {
		t.Helper()
		c, err := r.Dial(ctx)
		if err != nil {
			t.Fatalf("%s: dial: %v", what, err)
		}
		defer c.Close()
		if err := c.Send(ctx, "PING"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if v, err := c.Receive(short); !isTimeout(err) {
			t.Errorf("%s: PING answered %v, %v; want no answer yet", what, v, err)
		}
		release()
		if v, err := c.Receive(ctx); v != "PONG" || err != nil {
			t.Errorf("%s: PING after the hold: %v, %v", what, v, err)
		}
	}
	// 4 s: the short deadline must pass well within the pause even on a
	// busy machine.
	start := time.Now()
	r.Pause(4 * time.Second)
	held("pause", func() {})
	if d := time.Since(start); d < 4*time.Second {
		t.Errorf("PONG %v after a 4 s pause began", d)
	}
	r.Freeze()
	held("freeze", r.Thaw)
	do(t, r, "PING")
}

// TestStartRedisPortTaken: when the chosen port is taken, StartRedis tries another.
func TestStartRedisPortTaken(t *testing.T) {
	busyPort, calls := busyFirstPort(t)
	r := StartRedis(t, RedisOptions{})
	if calls() != 2 || int(r.Addr.Port()) == busyPort {
		t.Errorf("port picked %d times, server on %v (busy port %d)", calls(), r.Addr, busyPort)
	}
	if v := do(t, r, "PING"); v != "PONG" {
		t.Errorf("PING: %v", v)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// execOutput runs a program and returns its combined output.
func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
