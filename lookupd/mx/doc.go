// Package mx finds the mail exchangers of a domain and the addresses of a
// host, asking DNS servers directly with github.com/miekg/dns.
//
// It follows RFC 5321 section 5.1: MX records sorted by preference, and when
// a domain has none, the implicit MX (the domain itself, if it has an A or
// AAAA record). A null MX (RFC 7505) means the domain takes no mail. Answers
// are read as RFC 1034/1035 and RFC 2308 say: CNAME chains are followed (at
// most MaxCNAME links), negative answers live for the SOA minimum, and every
// TTL is clamped between the Resolver's MinTTL and MaxTTL.
//
// Queries go to the configured servers, or those of /etc/resolv.conf, in
// order: a server that times out, answers SERVFAIL or refuses is skipped for
// the next one. Each query carries EDNS0 with a 1232-octet buffer (the DNS
// Flag Day 2020 size) and asks for recursion; a truncated UDP answer is asked
// again over TCP.
package mx
