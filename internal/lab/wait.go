package lab

import (
	"testing"
	"time"
)

// WaitBound is how long WaitFor waits.
const WaitBound = 10 * time.Second

// WaitFor polls cond, a state other goroutines or processes reach, every
// few milliseconds until it holds, and fails the test after WaitBound: the
// one bounded wait for an event of every package's tests.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(WaitBound); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, WaitBound)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, with a deadline
	}
}
