package lookupd

import (
	"fmt"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// TestSocketAnswers: Exim's request forms over the real socket, answered
// byte-exactly, first from a probe that may outlast answer.wait, then from
// the cache.
func TestSocketAnswers(t *testing.T) {
	l := startLab(t)
	s := newTestService(t, l.config(t, func(c *config.Config) { c.Answer.Wait = config.Duration{Duration: 500 * time.Millisecond} }))
	path := serveService(t, s)

	// The first request comes back empty within answer.wait; the probe goes on.
	start := time.Now()
	if got := sockettest.Raw(t, path, []byte("slow.test\n"), true); got != "" {
		t.Errorf("first answer %q, want empty while the probe runs", got)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("first answer took %v with answer.wait 500ms", took)
	}
	waitAnswer(t, s, path, "slow.test", "tlsexport")

	for _, req := range []string{"slow.test", "slow.test\n", "SLOW.test.", "postmaster@slow.test", "slow.test\r\n"} {
		start := time.Now()
		if got := sockettest.Raw(t, path, []byte(req), true); got != "tlsexport" {
			t.Errorf("request %q: answer %q, want exactly %q", req, got, "tlsexport")
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("cached answer to %q took %v", req, took)
		}
	}
	if got := sockettest.Raw(t, path, []byte("dh768.test"), true); got != "" && got != "tlsexport" {
		t.Errorf("answer %q", got)
	}
}

// waitAnswer asks s, served on path, for domain until the answer is
// want: after each other answer it waits for the lookups and probes that
// request started (Service.Wait), within lab.WaitFor's bound.
func waitAnswer(t *testing.T, s *Service, path, domain, want string) {
	t.Helper()
	lab.WaitFor(t, fmt.Sprintf("answer %q for %s", want, domain), func() bool {
		if sockettest.Raw(t, path, []byte(domain), true) == want {
			return true
		}
		s.Wait()
		return false
	})
}
