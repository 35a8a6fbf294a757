package socket

import (
	"context"
	"fmt"
)

// Shutdown stops accepting, then waits until the connections in flight are
// answered and every worker goroutine has ended, or until ctx is done. It
// returns nil when all are done; when ctx ends first, it cancels the
// handlers' context and returns ctx.Err() at once (the workers end as their
// handlers return; Close cuts their connections, a later Shutdown waits
// for them). A connection accepted while Shutdown runs is closed unserved;
// none is served after Shutdown returns nil.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.beginClosingLocked()
	done := s.drained
	if done == nil {
		done = make(chan struct{})
		s.drained = done
		s.drainedLocked()
	}
	s.mu.Unlock()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once, without
// waiting for their workers, and cancels the handlers' context: a request
// in flight gets no answer. It returns the first error of closing the
// listeners. Shutdown afterwards waits for the workers to end.
func (s *Server) Close() error {
	s.mu.Lock()
	err := s.beginClosingLocked()
	for c := range s.conns {
		c.Conn.Close() // its worker's read or write fails; the worker releases it
	}
	s.mu.Unlock()
	s.cancel()
	return err
}

// beginClosingLocked refuses new connections, ends idle workers and closes
// the listeners (their Serve returns ErrServerClosed).
func (s *Server) beginClosingLocked() error {
	s.initLocked()
	if !s.closing {
		s.closing = true
		close(s.quit)
	}
	s.changed.Broadcast()
	var first error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && first == nil {
			first = fmt.Errorf("close listener: %w", err)
		}
		delete(s.listeners, ln)
	}
	return first
}

// drainedLocked closes the channel Shutdown waits on once no connection
// and no worker is left.
func (s *Server) drainedLocked() {
	if s.live == 0 && s.workers == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}

// startWorker starts a worker for c, counted while c is live.
func (s *Server) startWorker(c *conn) {
	s.mu.Lock()
	s.workers++
	s.mu.Unlock()
	go s.worker(c)
}

// workerEnds is called by each worker as it ends, before it is forgotten
// (a test holds workers there).
var workerEnds = func() {}

// workerDone forgets a worker that ends.
func (s *Server) workerDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.workers--
	s.drainedLocked()
}
