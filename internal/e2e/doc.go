// Package e2e holds the end-to-end test of exim-tlsprobe: Debian's real Exim,
// configured with the snippets in contrib/exim as an administrator would
// install them, delivers real mail (RFC 5321, STARTTLS per RFC 3207) through
// the real tlsprobed daemon built from this tree, to real SMTP servers with
// weak TLS (a DHE-768 server, an RSA-1024 server, a modern TLS 1.3 server, a
// server without STARTTLS) inside a network namespace the test creates, with
// dnsmasq serving the MX records. It runs as part of `go test ./...` as root;
// see e2e_test.go. openssl_test.go does the same with an Exim built with
// OpenSSL (lab.EximOpenSSLBinary) and the snippets' OpenSSL routers and
// transports, against a DHE-1024, a DHE-768-preferring, a modern and a
// DHE-768-only server. feedback_test.go proves the report verb: a server
// cached as fine turns weak, Exim's transport event_action reports the DH
// failure, the daemon probes it again and the next delivery gets TLS.
// senders_test.go holds the sending Exims (eximBuild: Debian 12's on the
// machine, Debian 13's from the lab root trixie-exim; allSenders adds the
// OpenSSL-built one); trixie_test.go requires the same routes and X= from
// both GnuTLS Exims; debpkg_trixie_test.go installs the .deb in a copy of
// the Debian 13 root. docs/releases.md has the figures.
package e2e
