// Package lab starts real servers for other packages' tests: an OpenSSL 3
// SMTP server with STARTTLS (RFC 5321, RFC 3207) that can still speak legacy
// 512/768-bit DHE (testdata/fixtures/smtptls.c), a real Exim daemon (GnuTLS,
// or the same Exim built with OpenSSL by scripts/build-exim-openssl), a real
// Exim as the sending MTA (SendWithExim), Debian's redis-server (plain, TLS,
// Unix socket, AUTH, noeviction; killed, restarted, paused) with a minimal
// RESP client, and a small authoritative DNS server (RFC 1035, RFC 2308
// negative answers) built on github.com/miekg/dns, and a TCP balancer
// (Proxy: round robin or seeded random) to put in front of several of them.
// Everything listens on 127.0.0.1 (or a Unix socket in a test directory)
// only, except a Proxy, which serves the listener its caller gives it, and
// is stopped by t.Cleanup (a Proxy by its Close or its context).
//
// Import it from _test.go files only.
package lab
