package lab

import (
	"bytes"
	"log/slog"
	"sync"
)

// LogBuffer collects log output written from many goroutines (a logger, a
// child process's stderr) for a test to read and count while it grows.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns the number of lines holding every one of subs.
func (l *LogBuffer) Count(subs ...string) int { return CountLines(l.String(), subs...) }

// Logger is a text logger writing to l.
func (l *LogBuffer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
