package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisOptions configure StartRedis. The zero value is a plain Redis on a
// free TCP port of 127.0.0.1 with no password and no memory limit.
type RedisOptions struct {
	// Unix serves on a Unix socket in the test's directory (Redis.Socket)
	// instead of a TCP port.
	Unix bool
	// TLS serves TLS only (tls-port; the plain port is off) with the
	// testdata/certs/rsa2048 certificate (Redis.CertFile: self-signed, for
	// 127.0.0.1 and localhost). Clients are not asked for certificates. Not
	// with Unix: Redis has no TLS on Unix sockets.
	TLS bool
	// Password is the AUTH password: requirepass (the default user's), or
	// with User the ACL user's.
	Password string
	// User is an ACL user with every permission and Password as password;
	// the default user is then off, so a client must AUTH as User.
	User string
	// MaxMemory sets maxmemory (bytes) with maxmemory-policy noeviction:
	// writes beyond it fail with an OOM error. 0 = no limit.
	MaxMemory int64
}

// Redis is a redis-server started by StartRedis, stopped by t.Cleanup.
type Redis struct {
	Addr     netip.AddrPort // TCP address on 127.0.0.1; zero with Unix
	Socket   string         // Unix socket path; "" without Unix
	CertFile string         // TLS: the server's certificate (PEM), to trust

	t    testing.TB
	o    RedisOptions
	dir  string
	bin  string
	pool *x509.CertPool

	mu   sync.Mutex
	p    *proc
	runs int // servers started, for run directory names
}

// redisReady bounds how long a start may take to answer PING.
const redisReady = 15 * time.Second

// StartRedis starts Debian's redis-server 7 in the foreground (no
// daemonize, no persistence: an empty save setting, no append-only file, a fresh
// directory for each start) on 127.0.0.1 or a Unix socket, and returns when
// it answers PING (after AUTH when a password is set). Its log is
// DIR/run-N/redis.log, copied to t.Log if the test fails. Needs
// redis-server; without it the test is skipped (failed under CI=true).
func StartRedis(t testing.TB, o RedisOptions) *Redis {
	t.Helper()
	Require(t, "redis-server")
	bin, _ := lookTool("redis-server")
	if o.TLS && o.Unix {
		t.Fatal("lab: RedisOptions: TLS and Unix together (Redis has no TLS on Unix sockets)")
	}
	if o.User != "" && o.Password == "" {
		t.Fatal("lab: RedisOptions: User without Password")
	}
	r := &Redis{t: t, o: o, dir: t.TempDir(), bin: bin}
	if o.TLS {
		r.CertFile = certFile(t, "rsa2048.crt")
		pem, err := os.ReadFile(r.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		r.pool = x509.NewCertPool()
		if !r.pool.AppendCertsFromPEM(pem) {
			t.Fatalf("lab: no certificate in %s", r.CertFile)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			r.logLogs()
		}
	})
	if o.Unix {
		r.Socket = filepath.Join(r.dir, "redis.sock")
		if len(r.Socket) >= 104 { // sun_path holds 108 bytes
			t.Fatalf("lab: Unix socket path %s too long; use a shorter test name", r.Socket)
		}
		if err := r.start(); err != nil {
			t.Fatalf("start redis: %v", err)
		}
		return r
	}
	var err error
	for attempt := 0; attempt < eximAttempts; attempt++ {
		r.Addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(pickPort(t)))
		if err = r.start(); err == nil {
			return r
		}
		if !strings.Contains(r.lastLog(), "Address already in use") {
			break
		}
		t.Logf("redis: port %d taken, trying another", r.Addr.Port())
	}
	t.Fatalf("start redis: %v", err)
	return nil
}

// args are redis-server's command line for one start in dir.
func (r *Redis) args(dir string) []string {
	a := []string{
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		"--bind", "127.0.0.1",
	}
	switch {
	case r.o.Unix:
		a = append(a, "--port", "0", "--unixsocket", r.Socket)
	case r.o.TLS:
		a = append(a, "--port", "0", "--tls-port", strconv.Itoa(int(r.Addr.Port())),
			"--tls-cert-file", r.CertFile, "--tls-key-file", certFile(r.t, "rsa2048.key"),
			"--tls-auth-clients", "no")
	default:
		a = append(a, "--port", strconv.Itoa(int(r.Addr.Port())))
	}
	switch {
	case r.o.User != "":
		a = append(a, "--user", "default", "off", "--user", r.o.User, "on", ">"+r.o.Password, "~*", "&*", "+@all")
	case r.o.Password != "":
		a = append(a, "--requirepass", r.o.Password)
	}
	if r.o.MaxMemory > 0 {
		a = append(a, "--maxmemory", strconv.FormatInt(r.o.MaxMemory, 10), "--maxmemory-policy", "noeviction")
	}
	return a
}

// start starts a server in a fresh run directory and waits until it answers.
func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs++
	dir := filepath.Join(r.dir, fmt.Sprintf("run-%d", r.runs))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	p, err := startProc(r.t, "redis: ", exec.Command(r.bin, r.args(dir)...))
	if err != nil {
		return err
	}
	r.p = p
	ctx, cancel := context.WithTimeout(context.Background(), redisReady)
	defer cancel()
	var last error
	for {
		if last = r.ping(ctx); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("redis-server exited: %v; its log:\n%s", p.err, r.readLog(dir))
		case <-ctx.Done():
			p.stop()
			return fmt.Errorf("no PONG after %v: %w", redisReady, last)
		case <-time.After(20 * time.Millisecond): // polling interval, bounded by ctx
		}
	}
}

// ping dials, authenticates and expects PONG. Each try is short: a port
// that another program holds may accept and stay silent, and then the
// server's exit is what counts.
func (r *Redis) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	c, err := r.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.Do(ctx, "PING")
	if err != nil {
		return err
	}
	if v != "PONG" {
		return fmt.Errorf("PING answered %q", v)
	}
	return nil
}

// Network returns the network and address to dial: "unix" and the socket,
// or "tcp" and host:port.
func (r *Redis) Network() (network, address string) {
	if r.o.Unix {
		return "unix", r.Socket
	}
	return "tcp", r.Addr.String()
}

// URL is the address in the forms of the [redis] url setting:
// redis://[user:pass@]127.0.0.1:PORT/0, rediss://... with TLS, and
// unix://[user:pass@]/PATH (unix:///PATH without a password). Without a
// User the password comes as redis://:PASS@; note that redis-cli 7.0 reads
// that as user "" and fails to AUTH (redis://default:PASS@ works for it).
func (r *Redis) URL() string {
	u := url.URL{Scheme: "redis", Host: r.Addr.String(), Path: "/0"}
	if r.o.TLS {
		u.Scheme = "rediss"
	}
	if r.o.Unix {
		u = url.URL{Scheme: "unix", Path: r.Socket}
		if r.o.Password == "" {
			return "unix://" + r.Socket // url.URL would drop the empty host's //
		}
	}
	if r.o.Password != "" {
		u.User = url.UserPassword(r.o.User, r.o.Password)
	}
	return u.String()
}

// TLSConfig is a client configuration that trusts the server's certificate
// (nil without TLS).
func (r *Redis) TLSConfig() *tls.Config {
	if !r.o.TLS {
		return nil
	}
	return &tls.Config{RootCAs: r.pool, MinVersion: tls.VersionTLS12}
}

// Dial opens a connection (TLS when the server has it) and, when the server
// has a password, authenticates.
func (r *Redis) Dial(ctx context.Context) (*RESPConn, error) {
	c, err := r.DialRaw(ctx)
	if err != nil {
		return nil, err
	}
	if r.o.Password != "" {
		args := []string{"AUTH", r.o.Password}
		if r.o.User != "" {
			args = []string{"AUTH", r.o.User, r.o.Password}
		}
		if _, err := c.Do(ctx, args...); err != nil {
			c.Close()
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	return c, nil
}

// DialRaw opens a connection (TLS when the server has it) without AUTH.
func (r *Redis) DialRaw(ctx context.Context) (*RESPConn, error) {
	network, address := r.Network()
	var d net.Dialer
	var c net.Conn
	var err error
	if r.o.TLS {
		c, err = (&tls.Dialer{NetDialer: &d, Config: r.TLSConfig()}).DialContext(ctx, network, address)
	} else {
		c, err = d.DialContext(ctx, network, address)
	}
	if err != nil {
		return nil, fmt.Errorf("dial redis: %w", err)
	}
	return NewRESPConn(c), nil
}

// Do runs one command on a connection of its own and returns the reply
// (a RedisError for an error reply).
func (r *Redis) Do(ctx context.Context, args ...string) (any, error) {
	c, err := r.Dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Do(ctx, args...)
}

// Kill ends the server with SIGKILL and waits for it: open connections
// break, new ones are refused. Restart starts it again.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = syscall.Kill(-r.p.cmd.Process.Pid, syscall.SIGKILL)
	<-r.p.done
}

// Restart kills the server (if it runs) and starts a new, empty one on the
// same address, returning when it answers PING. The test fails if the
// address cannot be had again.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	if err := r.start(); err != nil {
		r.t.Fatalf("restart redis on %s: %v", r.URL(), err)
	}
}

// Pause makes the server hold every client's commands (CLIENT PAUSE ALL)
// for d: connections are accepted, replies come after d. It returns once
// the server has taken the pause.
func (r *Redis) Pause(d time.Duration) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v, err := r.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "ALL"); err != nil || v != "OK" {
		r.t.Fatalf("redis CLIENT PAUSE: %v, %v", v, err)
	}
}

// Freeze stops the server process (SIGSTOP): the kernel still accepts TCP
// connections, nothing is answered until Thaw. The test's end thaws it.
func (r *Redis) Freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := syscall.Kill(-r.p.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		r.t.Fatalf("freeze redis: %v", err)
	}
	r.t.Cleanup(r.Thaw) // runs before the stop registered at start
}

// Thaw lets a frozen server run again (SIGCONT).
func (r *Redis) Thaw() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = syscall.Kill(-r.p.cmd.Process.Pid, syscall.SIGCONT)
}

func (r *Redis) readLog(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "redis.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err.Error()
	}
	return string(b)
}

// lastLog is the log of the latest start.
func (r *Redis) lastLog() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readLog(filepath.Join(r.dir, fmt.Sprintf("run-%d", r.runs)))
}

func (r *Redis) logLogs() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 1; i <= r.runs; i++ {
		if l := r.readLog(filepath.Join(r.dir, fmt.Sprintf("run-%d", i))); l != "" {
			r.t.Logf("redis log of start %d:\n%s", i, l)
		}
	}
}
