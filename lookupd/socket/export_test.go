package socket

import "time"

// SetMinWait sets minWait for a test and returns the function that puts
// it back.
func SetMinWait(d time.Duration) (restore func()) {
	old := minWait
	minWait = d
	return func() { minWait = old }
}
