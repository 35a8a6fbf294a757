// Package store keeps what the daemon has learnt, as facts (docs/design.md
// sections 3 and 5): the entry types of its three caches (domain -> MX set,
// RFC 5321 section 5.1; host name -> addresses; address -> what a probe
// observed), the caches built over them, and their files.
package store
