package lab

import (
	"fmt"
	"strings"
	"testing"
)

// TestSendWithExim: Debian's Exim delivers through the lab sender's
// manualroute router to a server without STARTTLS (in clear) and to one
// with it (TLS 1.3), and the log helpers read what it wrote.
func TestSendWithExim(t *testing.T) {
	Require(t, "exim", "gcc")
	clear := SendWithExim(t, EximSendOptions{To: StartOpenSSL(t, OpenSSLOptions{NoSTARTTLS: true}).Addr})
	checkSent(t, "to a server without STARTTLS", clear, "", "<= sender@sender.test U=root P=local")
	if !strings.Contains(clear.Delivery(), `R=lab T=lab_smtp H=127.0.0.1 [127.0.0.1]:`) {
		t.Errorf("delivery line %q", clear.Delivery())
	}
	s := StartOpenSSL(t, OpenSSLOptions{Listen: "127.0.0.3:0"})
	tls := SendWithExim(t, EximSendOptions{To: s.Addr, Transport: "hosts_try_chunking =\nhosts_try_prdr ="})
	checkSent(t, "to a server with STARTTLS on 127.0.0.3", tls, "TLS1.3:ECDHE_SECP256R1__RSA_PSS_RSAE_SHA256__AES_256_GCM:256", "")
	if !strings.Contains(tls.Delivery(), fmt.Sprintf("H=127.0.0.3 [127.0.0.3]:%d", s.Addr.Port())) {
		t.Errorf("delivery line %q, want H=%v", tls.Delivery(), s.Addr)
	}
	if got := (&EximSent{Log: "x\n"}).TLS(); got != "" {
		t.Errorf("TLS of a log without delivery = %q", got)
	}
}

func TestPanics(t *testing.T) {
	log := "2026-12-02 05:54:50 exim user lost privilege for using -C option\n2026-12-02 05:54:50 1xYdIo-0007hI-0U re-exec of exim failed\n"
	if got := panics(log); got != "2026-12-02 05:54:50 1xYdIo-0007hI-0U re-exec of exim failed\n" {
		t.Errorf("panics = %q", got)
	}
}
