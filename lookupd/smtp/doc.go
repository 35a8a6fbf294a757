// Package smtp is the minimal SMTP client the TLS probe needs: read the
// server's greeting, say EHLO, check that STARTTLS is advertised and ask for it
// (RFC 5321 sections 3.1, 4.1.1.1 and 4.2; RFC 3207). Nothing else of SMTP is
// spoken: no mail is ever sent.
//
// Everything read from the server is untrusted and bounded: a reply line holds
// at most MaxLineLength octets and a reply at most MaxLines lines, and every
// read and write has a deadline taken from the caller's context, so a server
// that sends endless continuation lines, one byte per second, or nothing at
// all costs the probe no more than its own timeout.
package smtp
