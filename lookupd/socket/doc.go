// Package socket is the daemon's wire protocol on a Unix stream socket (and
// an optional loopback TCP listener): one request line per connection, as
// Exim's ${readsocket} sends it (the request, then a half-close), one answer,
// then close. It holds the request parser, the Server that accepts, bounds
// and answers connections, the Unix-socket listener, and Query, the client.
// It knows nothing of what the answers mean: a Handler gives them.
//
// The protocol is in docs/design.md section 2; domain names follow RFC 5321 and,
// for U-labels, RFC 5891 (converted by the handler).
package socket
