package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Handler answers one parsed request. The answer is written as is: the bare
// word for a domain, a line ending in LF for the admin verbs.
type Handler interface {
	Handle(ctx context.Context, req Request) []byte
}

// Server serves the one-request-per-connection protocol on any number of
// listeners. The zero value of every field is a documented default; Handler
// is required.
type Server struct {
	Handler Handler
	// ReadTimeout bounds the wait for the request line. Zero means 5s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the answer. Zero means 5s.
	WriteTimeout time.Duration
	// HandleTimeout bounds the handler; the handler is expected to answer
	// sooner (answer.wait). Zero means 30s.
	HandleTimeout time.Duration
	// MaxConns caps connections served at once; more are closed at once,
	// which Exim reads as an empty answer. Zero means 1024.
	MaxConns int
	// Logger receives one line per malformed request and per answer the
	// client did not take, and at most one a second about connections
	// refused over MaxConns. Nil means slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	// Refusals over MaxConns are logged at most once a second (a flood of
	// connections must not become a flood of log lines): refusedUnlogged
	// counts those since the last line.
	refusedLogged   time.Time
	refusedUnlogged int
	conns           sync.WaitGroup
	sem             chan struct{}
	idle            chan net.Conn // unbuffered: taken only by a worker waiting for it
	closing         atomic.Bool
	ctx             context.Context
	cancel          context.CancelFunc

	// Counters, read with Stats.
	accepted, refused, malformed atomic.Uint64
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("socket: server closed")

// ServerStats are the connection counters of a Server.
type ServerStats struct {
	Accepted  uint64 `json:"accepted"`
	Refused   uint64 `json:"refused_over_cap"`
	Malformed uint64 `json:"malformed"`
}

// Stats returns the connection counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{Accepted: s.accepted.Load(), Refused: s.refused.Load(), Malformed: s.malformed.Load()}
}

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sem != nil {
		return
	}
	n := s.MaxConns
	if n <= 0 {
		n = 1024
	}
	s.sem = make(chan struct{}, n)
	s.idle = make(chan net.Conn)
	s.listeners = make(map[net.Listener]struct{})
	s.ctx, s.cancel = context.WithCancel(context.Background())
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func dur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Serve accepts connections on ln until Shutdown, serving each in a worker
// goroutine of its own (a worker then serves more, one after another). It
// returns ErrServerClosed after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// EMFILE and the like pass: keep accepting after a backoff.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger().Warn("listen", "event", "accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		select {
		case s.sem <- struct{}{}:
		default:
			s.refused.Add(1)
			conn.Close()
			s.logRefused()
			continue
		}
		s.accepted.Add(1)
		s.conns.Add(1)
		select {
		case s.idle <- conn: // a worker waiting for its next connection
		default:
			go s.worker(conn)
		}
	}
}

// workerIdle is how long a worker waits for another connection before it
// ends.
const workerIdle = 5 * time.Second

// worker serves conn, then the connections Serve hands it while it waits,
// until none comes for workerIdle. A worker's stack has grown to what a
// request needs by its second connection: a goroutine per connection would
// grow (copy) its stack every time, a tenth of the daemon's CPU under load.
func (s *Server) worker(conn net.Conn) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		s.serveConn(conn)
		<-s.sem
		s.conns.Done()
		t.Reset(workerIdle)
		select {
		case conn = <-s.idle:
		case <-t.C:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Server) serveConn(conn net.Conn) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(dur(s.ReadTimeout, 5*time.Second)))
	buf := lineBufs.Get().(*[MaxRequest + 2]byte)
	defer lineBufs.Put(buf)
	line, err := readLine(conn, buf[:])
	var answer []byte
	if err == nil {
		var req Request
		req, err = ParseRequest(line)
		if err == nil {
			ctx, cancel := context.WithTimeout(s.ctx, dur(s.HandleTimeout, 30*time.Second))
			answer = s.Handler.Handle(ctx, req)
			cancel()
		}
	}
	if err != nil {
		s.malformed.Add(1)
		s.logger().Warn("answer", "event", "malformed request", "err", err, "bytes", len(line))
	}
	conn.SetWriteDeadline(time.Now().Add(dur(s.WriteTimeout, 5*time.Second)))
	if len(answer) > 0 {
		if _, err := conn.Write(answer); err != nil {
			// Typically the client gave up (Exim's readsocket timeout) and closed.
			s.logger().Warn("answer", "event", "answer not delivered", "err", err, "bytes", len(answer))
		}
	}
}

// logRefused logs a connection refused over MaxConns, at most one line a
// second, with the refusals since the previous line and in all.
func (s *Server) logRefused() {
	s.mu.Lock()
	s.refusedUnlogged++
	now := time.Now()
	if now.Sub(s.refusedLogged) < time.Second {
		s.mu.Unlock()
		return
	}
	n := s.refusedUnlogged
	s.refusedLogged, s.refusedUnlogged = now, 0
	s.mu.Unlock()
	s.logger().Warn("listen", "event", "connections refused over max_conns", "max_conns", cap(s.sem), "refused", n, "refused_total", s.refused.Load())
}

var errTooLong = fmt.Errorf("%w: longer than %d bytes", ErrBadRequest, MaxRequest)

// lineBufs holds the request buffers of readLine: the line is parsed into
// strings before the buffer goes back.
var lineBufs = sync.Pool{New: func() any { return new([MaxRequest + 2]byte) }}

// readLine reads one request into buf (MaxRequest+2 bytes): up to LF, or to
// the client's half-close, of at most MaxRequest bytes (plus CR LF). Longer
// input is an error and is not read further.
func readLine(r io.Reader, buf []byte) ([]byte, error) {
	n := 0
	for {
		m, err := r.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			return buf[:n+i], nil
		}
		n += m
		switch {
		case errors.Is(err, io.EOF):
			if n > MaxRequest+1 {
				return buf[:n], errTooLong
			}
			return buf[:n], nil
		case err != nil:
			return buf[:n], err
		case n == len(buf):
			return buf[:n], errTooLong
		}
	}
}

// Shutdown stops accepting, then waits for the connections in flight until
// ctx is done, when it cancels their handlers.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.closing.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return ctx.Err()
	}
}
