package lab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runTool runs a client tool against a lab server and returns its combined
// output (with the exit status appended on failure). Its stdin is "QUIT":
// after the handshake the tool ends the SMTP session instead of waiting.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader("QUIT\r\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		out = fmt.Appendf(out, "\n[exit: %v]", err)
	}
	return string(out)
}

// gnutlsCLI runs gnutls-cli with SMTP STARTTLS against addr.
func gnutlsCLI(t *testing.T, addr netip.AddrPort, extra ...string) string {
	t.Helper()
	args := append([]string{"--starttls-proto=smtp", "--insecure", "--crlf", "-p", strconv.Itoa(int(addr.Port()))}, extra...)
	return runTool(t, "gnutls-cli", append(args, addr.Addr().String())...)
}

// opensslClient runs openssl s_client -starttls smtp against addr.
func opensslClient(t *testing.T, addr netip.AddrPort, extra ...string) string {
	t.Helper()
	args := append([]string{"s_client", "-starttls", "smtp", "-connect", addr.String()}, extra...)
	return runTool(t, "openssl", args...)
}

func wantContains(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// smtpConn is a minimal SMTP client for checking dialogues.
type smtpConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr netip.AddrPort) *smtpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &smtpConn{t: t, c: c, r: bufio.NewReader(c)}
}

// reply reads one (multi-line) reply and returns its lines.
func (s *smtpConn) reply() []string {
	s.t.Helper()
	var lines []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read reply after %q: %v", lines, err)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return lines
		}
	}
}

// cmd sends a command and returns the reply lines.
func (s *smtpConn) cmd(line string) []string {
	s.t.Helper()
	if _, err := fmt.Fprintf(s.c, "%s\r\n", line); err != nil {
		s.t.Fatalf("send %q: %v", line, err)
	}
	return s.reply()
}

// busyFirstPort makes pickPort hand out a port that a listener of the test
// holds, then free ones, until the test ends. It returns that port and the
// number of ports handed out so far.
func busyFirstPort(t *testing.T) (busyPort int, calls func() int) {
	t.Helper()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	busyPort = busy.Addr().(*net.TCPAddr).Port
	n := 0
	pickPort = func(t testing.TB) int {
		n++
		if n == 1 {
			return busyPort
		}
		return FreePort(t)
	}
	t.Cleanup(func() { pickPort = FreePort })
	return busyPort, func() int { return n }
}
