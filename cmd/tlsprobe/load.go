package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is a server to load: a Unix socket path or inet:HOST:PORT.
type target struct {
	name string
	dial func() (conn, error)
	pid  int // the serving process, for its CPU time; 0 = unknown
}

type conn interface {
	net.Conn
	CloseWrite() error
}

func newTarget(name, addr string) (*target, error) {
	if hp, ok := strings.CutPrefix(addr, "inet:"); ok {
		ta, err := net.ResolveTCPAddr("tcp", hp)
		if err != nil {
			return nil, fmt.Errorf("-socket %s: %w", addr, err)
		}
		return &target{name: name, dial: func() (conn, error) { return net.DialTCP("tcp", nil, ta) }}, nil
	}
	ua := &net.UnixAddr{Name: addr, Net: "unix"}
	t := &target{name: name, dial: func() (conn, error) { return net.DialUnix("unix", nil, ua) }}
	t.pid = peerPID(t)
	return t, nil
}

// load is one phase: clients sending requests in turn until the duration
// or the count is done.
type load struct {
	target   *target
	clients  int
	reqs     [][]byte
	duration time.Duration
	count    int
	timeout  time.Duration
}

// phase is the result of a load.
type phase struct {
	Target   string  `json:"target"`
	Round    int     `json:"round"`
	Clients  int     `json:"clients"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	P999     float64 `json:"p999_ms"`
	Max      float64 `json:"max_ms"`
	// CPU per request, µs: the server process (-1 when its pid is unknown,
	// e.g. over TCP) and this process (the clients).
	ServerCPU float64        `json:"server_cpu_us_per_req"`
	ClientCPU float64        `json:"client_cpu_us_per_req"`
	Answers   map[string]int `json:"answers"`
	Error     string         `json:"first_error,omitempty"`
}

// worker is one client's record.
type worker struct {
	lat     []time.Duration
	answers map[string]*int
	errors  int
	err     error
}

func (l load) run() phase {
	var (
		stop atomic.Bool
		left atomic.Int64
		next atomic.Uint64
		wg   sync.WaitGroup
	)
	left.Store(int64(l.count))
	ws := make([]worker, l.clients)
	pid := l.target.pid
	srv0, cli0 := procCPU(pid), selfCPU()
	start := time.Now()
	if l.count == 0 {
		t := time.AfterFunc(l.duration, func() { stop.Store(true) })
		defer t.Stop()
	}
	for i := range ws {
		w := &ws[i]
		w.answers = map[string]*int{}
		wg.Go(func() {
			buf := make([]byte, 1024)
			for l.more(&stop, &left) {
				req := l.reqs[next.Add(1)%uint64(len(l.reqs))]
				t0 := time.Now()
				ans, err := exchange(l.target, req, buf, t0.Add(l.timeout))
				w.record(ans, time.Since(t0), err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	srv, cli := procCPU(pid), selfCPU()
	if srv >= 0 && srv0 >= 0 {
		srv -= srv0
	}
	if cli >= 0 && cli0 >= 0 {
		cli -= cli0
	}
	p := l.fold(ws, elapsed)
	p.ServerCPU, p.ClientCPU = perRequest(srv, p.Requests), perRequest(cli, p.Requests)
	return p
}

// more reports whether a client sends another request: until the count is
// spent (-n), else until stop.
func (l load) more(stop *atomic.Bool, left *atomic.Int64) bool {
	if l.count > 0 {
		return left.Add(-1) >= 0
	}
	return !stop.Load()
}

// record counts one request's latency and answer, or its error.
func (w *worker) record(ans []byte, lat time.Duration, err error) {
	w.lat = append(w.lat, lat)
	if err != nil {
		w.errors++
		if w.err == nil {
			w.err = err
		}
		return
	}
	if p, ok := w.answers[string(ans)]; ok {
		*p++
	} else {
		n := 1
		w.answers[string(ans)] = &n
	}
}

// fold is the phase the clients' figures make over elapsed.
func (l load) fold(ws []worker, elapsed time.Duration) phase {
	p := phase{Target: l.target.name, Clients: l.clients, Seconds: elapsed.Seconds(), Answers: map[string]int{}}
	var lat []time.Duration
	for _, w := range ws {
		lat = append(lat, w.lat...)
		p.Errors += w.errors
		if w.err != nil && p.Error == "" {
			p.Error = w.err.Error()
		}
		for a, n := range w.answers {
			p.Answers[a] += *n
		}
	}
	p.Requests = len(lat)
	p.RPS = float64(p.Requests-p.Errors) / elapsed.Seconds()
	slices.Sort(lat)
	p.P50, p.P99, p.P999 = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), ms(percentile(lat, 0.999))
	if len(lat) > 0 {
		p.Max = ms(lat[len(lat)-1])
	}
	return p
}

// exchange is one request as Exim's ${readsocket} makes it; the answer is
// read into buf.
func exchange(t *target, req, buf []byte, deadline time.Time) ([]byte, error) {
	c, err := t.dial()
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if _, err := c.Write(req); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	if err := c.CloseWrite(); err != nil {
		return nil, fmt.Errorf("half-close: %w", err)
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		switch {
		case errors.Is(err, io.EOF):
			return buf[:n], nil
		case err != nil:
			return nil, fmt.Errorf("read answer: %w", err)
		case n == len(buf):
			return nil, fmt.Errorf("read answer: longer than %d bytes", len(buf))
		}
	}
}

// percentile is the smallest latency at or above fraction q of the sorted
// samples (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
