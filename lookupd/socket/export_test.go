package socket

import "time"

// SetMinWait sets minWait for a test and returns the function that puts
// it back.
func SetMinWait(d time.Duration) (restore func()) {
	old := minWait
	minWait = d
	return func() { minWait = old }
}

// SetWorkerEnds sets what each worker calls as it ends, for a test, and
// returns the function that puts it back.
func SetWorkerEnds(f func()) (restore func()) {
	old := workerEnds
	workerEnds = f
	return func() { workerEnds = old }
}

// Workers is the number of worker goroutines s counts.
func Workers(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workers
}

// Live is the number of connections s tracks.
func Live(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}
