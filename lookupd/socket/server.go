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

// MalformedObserver is an optional interface of a Handler: it is told of
// each malformed request whose verb ParseRequest recognised (a report with
// a bad address), after the server has counted and logged it. The request
// itself still gets the empty answer.
type MalformedObserver interface {
	Malformed(verb string)
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
	// MaxConns caps connections served at once. Zero means 1024. At the cap
	// a new connection closes the one that has waited longest without a
	// complete request (Exim writes its request the moment it connects: an
	// idle or trickling connection is never worth more than a new one); only
	// when every connection has a complete request is the new one closed at
	// once, which Exim reads as an empty answer.
	MaxConns int
	// Logger receives one line per malformed request and per answer the
	// client did not take, and at most one a second about connections
	// refused or evicted at MaxConns. Nil means slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	// Refusals and evictions at MaxConns are logged at most once a second
	// each (a flood of connections must not become a flood of log lines).
	refusedLog, evictedLog capLog
	// conns holds the connections tracked, served or being closed (live
	// is their number); a connection is tracked under mu after checking
	// closing, so Shutdown never misses one. waiting lists those without a
	// complete request yet, in accept order; fresh counts those of them
	// whose worker has not begun to read; closingConns counts those evicted
	// and not yet released. workers counts the worker goroutines, each
	// counted under mu before it starts (while the connection it is given
	// is live, so a Shutdown that has seen none live sees no worker start).
	conns        map[*conn]struct{}
	live         int
	closingConns int
	fresh        int
	workers      int
	waiting      connList
	closing      bool
	quit         chan struct{} // closed when closing begins: idle workers end
	drained      chan struct{} // made by Shutdown, closed when no connection and no worker is left
	changed      *sync.Cond    // on mu: a connection was let go or began to be read, or closing
	max          int
	idle         chan *conn // unbuffered: taken only by a worker waiting for it
	ctx          context.Context
	cancel       context.CancelFunc

	// Counters, read with Stats.
	accepted, refused, evicted, malformed atomic.Uint64
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("socket: server closed")

// ServerStats are the connection counters of a Server.
type ServerStats struct {
	Accepted  uint64 `json:"accepted"`
	Refused   uint64 `json:"refused_over_cap"`
	Evicted   uint64 `json:"evicted_at_cap"`
	Malformed uint64 `json:"malformed"`
}

// Stats returns the connection counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{Accepted: s.accepted.Load(), Refused: s.refused.Load(), Evicted: s.evicted.Load(), Malformed: s.malformed.Load()}
}

func (s *Server) initLocked() {
	if s.listeners != nil {
		return
	}
	s.max = s.MaxConns
	if s.max <= 0 {
		s.max = 1024
	}
	s.idle = make(chan *conn)
	s.quit = make(chan struct{})
	s.conns = make(map[*conn]struct{})
	s.changed = sync.NewCond(&s.mu)
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

// Serve accepts connections on ln until Shutdown or Close, serving each in
// a worker goroutine of its own (a worker then serves more, one after
// another). It returns ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.initLocked()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
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
		c, err := s.track(nc)
		if err != nil {
			nc.Close()
			if errors.Is(err, ErrServerClosed) {
				return err
			}
			continue
		}
		s.accepted.Add(1)
		select {
		case s.idle <- c: // a worker waiting for its next connection
		default:
			s.startWorker(c)
		}
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// errOverCap: every connection has a complete request; the new one is refused.
var errOverCap = errors.New("socket: every connection busy")

// track admits nc under mu: refused once Shutdown has begun (the caller
// closes it); at the cap it evicts the connection that has waited longest
// without a complete request (at least minWait) or, when there is none,
// refuses nc.
//
// Only a connection its worker has begun to read counts as waiting: one
// just accepted may hold a complete request not read yet (Exim writes at
// once), and under a flood of connections the accept loop would otherwise
// evict it before its worker runs. So at the cap, while some connections
// are still fresh, track waits for their workers, and so does the accept
// loop: the flood waits in the listen backlog. Evicted connections count
// until their worker lets them go; past MaxConns of them track waits too:
// goroutines and descriptors stay bounded by 2*MaxConns.
func (s *Server) track(nc net.Conn) (*conn, error) {
	s.mu.Lock()
	var victim *conn
	for {
		if s.closing {
			s.mu.Unlock()
			return nil, ErrServerClosed
		}
		if s.closingConns >= s.max {
			s.changed.Wait()
			continue
		}
		if s.live-s.closingConns < s.max {
			break
		}
		if victim = s.oldestRead(); victim != nil {
			remove(victim)
			victim.evicted = true
			s.closingConns++
			break
		}
		if s.fresh == 0 {
			s.mu.Unlock()
			s.refused.Add(1)
			s.logCap(&s.refusedLog, "connections refused over max_conns")
			return nil, errOverCap
		}
		s.changed.Wait()
	}
	c := &conn{Conn: nc}
	s.conns[c] = struct{}{}
	s.waiting.pushBack(c)
	s.fresh++
	s.live++
	s.mu.Unlock()
	if victim != nil {
		// Its worker's Read returns at once; the worker then releases it.
		victim.Conn.Close()
		s.evicted.Add(1)
		s.logCap(&s.evictedLog, "connections evicted at max_conns")
	}
	return c, nil
}

// minWait is how long a connection must have been read from, without a
// complete request, before it can be evicted: a client that connected a
// moment ago may be about to write (Exim writes at once, but a loaded
// machine can hold a process a few milliseconds between its connect and
// its write). It also bounds evictions to MaxConns per minWait.
var minWait = 10 * time.Millisecond

// oldestRead is the connection accepted first among those whose worker
// has begun to read them without a complete request yet, if it has waited
// minWait; else nil. The fresh ones it passes over are few: workers start
// within moments.
func (s *Server) oldestRead() *conn {
	for c := s.waiting.front(); c != nil; c = c.next {
		if c.read {
			if time.Since(c.readAt) < minWait {
				return nil
			}
			return c
		}
	}
	return nil
}

// reading marks c as read from: its worker begins to read it.
func (s *Server) reading(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.read, c.readAt = true, time.Now()
	s.fresh--
	s.changed.Broadcast()
}

// requestRead marks c as holding a complete request: no longer a candidate
// for eviction. It reports false if c was evicted meanwhile.
func (s *Server) requestRead(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.evicted {
		return false
	}
	remove(c)
	s.changed.Broadcast()
	return true
}

// release forgets c once its worker is done with it.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.evicted {
		s.closingConns--
	}
	remove(c)
	delete(s.conns, c)
	s.live--
	s.changed.Broadcast()
	s.drainedLocked()
}

// workerIdle is how long a worker waits for another connection before it
// ends.
const workerIdle = 5 * time.Second

// worker serves c, then the connections Serve hands it while it waits,
// until none comes for workerIdle or the server closes. A worker's stack
// has grown to what a request needs by its second connection: a goroutine
// per connection would grow (copy) its stack every time, a tenth of the
// daemon's CPU under load.
func (s *Server) worker(c *conn) {
	defer s.workerDone()
	defer workerEnds()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		s.serveConn(c)
		s.release(c)
		t.Reset(workerIdle)
		select {
		case c = <-s.idle:
		case <-t.C:
			return
		case <-s.quit:
			return
		}
	}
}

func (s *Server) serveConn(c *conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(dur(s.ReadTimeout, 5*time.Second)))
	buf := lineBufs.Get().(*[MaxRequest + 2]byte)
	defer lineBufs.Put(buf)
	s.reading(c)
	line, err := readLine(c, buf[:])
	if !s.requestRead(c) {
		return // evicted at the cap before its request was complete
	}
	if errors.Is(err, errNoRequest) {
		return // connected and closed: another tlsprobed checking the socket is live
	}
	var answer []byte
	var req Request
	if err == nil {
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
		if o, ok := s.Handler.(MalformedObserver); ok && req.Verb != "" {
			o.Malformed(req.Verb)
		}
		if adminVerb(req.Verb) {
			// Exim sends no admin verb: the client is tlsprobe or a person,
			// who gets the reason instead of an empty answer.
			answer = []byte("error: " + err.Error() + "\n")
		}
	}
	c.SetWriteDeadline(time.Now().Add(dur(s.WriteTimeout, 5*time.Second)))
	if len(answer) > 0 {
		if _, err := c.Write(answer); err != nil {
			// Typically the client gave up (Exim's readsocket timeout) and closed.
			s.logger().Warn("answer", "event", "answer not delivered", "err", err, "bytes", len(answer))
		}
	}
}

// capLog throttles the log lines of one kind of event at MaxConns.
type capLog struct {
	logged   time.Time
	unlogged int // events since the last line
}

// logCap logs a connection refused or evicted at MaxConns, at most one line
// a second of each, with the count since the previous line and the totals.
func (s *Server) logCap(l *capLog, event string) {
	s.mu.Lock()
	l.unlogged++
	now := time.Now()
	if now.Sub(l.logged) < time.Second {
		s.mu.Unlock()
		return
	}
	n := l.unlogged
	l.logged, l.unlogged = now, 0
	s.mu.Unlock()
	s.logger().Warn("listen", "event", event, "max_conns", s.max, "since_last_line", n,
		"refused_total", s.refused.Load(), "evicted_total", s.evicted.Load())
}

// adminVerb reports whether verb is one that only an admin sends, answered
// with a line (an error line when malformed); a domain or a report that is
// malformed gets the empty answer.
func adminVerb(verb string) bool {
	switch verb {
	case VerbExplain, VerbStats, VerbFlush, VerbList:
		return true
	}
	return false
}

// errNoRequest is readLine's error for a connection closed before its
// first byte, such as ListenUnix's check of whether a socket is live.
var errNoRequest = errors.New("closed without a request")

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
			if n == 0 {
				return buf[:0], errNoRequest
			}
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
