// Package decision judges, with the policy in force, what the stored facts
// say (docs/design.md section 3): a domain's verdict from the overrides,
// its MX set (RFC 5321 section 5.1, RFC 7505), each host's addresses and
// each address's facts, through lookupd/verdict's one rule. The answers,
// explain (Decision), list (Listed) and the reading of Exim's delivery
// reports against the facts (Report, docs/design.md section 7) all take
// that one path. It reads the caches of lookupd/store and starts their
// loads; it does not build them.
package decision
