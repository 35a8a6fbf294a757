package verdict

// Tally folds the judgements of a domain's addresses (and the verdicts of
// its host overrides) into the domain's answer. The zero Tally is empty;
// Tallies merge, so a host's tally can be kept and added to its domain's.
//
// gnutls: the answer is the largest verdict (smallkey wins over tlsexport,
// the classic router order). openssl: one transport carries a delivery to
// every MX address, so the answer is the first transport (remote_smtp,
// nodhe, seclevel1, seclevel0) that gets TLS at every address where any does; when
// none does at all of them, the one that does at the most. A host override
// decides over what the probes found.
type Tally struct {
	max, forced Verdict
	openssl     bool
	works       Transports // intersection over the addresses where some transport works
	any         bool       // some address had a transport that works
	count       [len(transportOrder)]int
}

// Add counts one address's judgement.
func (t *Tally) Add(j Judgement) {
	t.max = Max(t.max, j.Verdict)
	if j.Works == 0 {
		return
	}
	t.openssl = true
	if !t.any {
		t.works, t.any = allTransports, true
	}
	t.works &= j.Works
	for i, o := range transportOrder {
		if j.Works.Has(o.t) {
			t.count[i]++
		}
	}
}

// Force counts a host override's verdict.
func (t *Tally) Force(v Verdict) { t.forced = Max(t.forced, v) }

// Merge adds u to t.
func (t *Tally) Merge(u Tally) {
	t.max, t.forced = Max(t.max, u.max), Max(t.forced, u.forced)
	if !u.any {
		return
	}
	t.openssl = true
	if !t.any {
		t.works, t.any = allTransports, true
	}
	t.works &= u.works
	for i := range t.count {
		t.count[i] += u.count[i]
	}
}

// Verdict is the answer.
func (t *Tally) Verdict() Verdict {
	if !t.openssl {
		return Max(t.max, t.forced)
	}
	if t.forced != None {
		return t.forced
	}
	if v := firstOf(t.works); t.works != 0 {
		return v
	}
	return transportOrder[t.best()].v
}

// best is the index in transportOrder of the transport that gets TLS at
// the most addresses (the first of equals).
func (t *Tally) best() int {
	best := 0
	for i := range t.count {
		if t.count[i] > t.count[best] {
			best = i
		}
	}
	return best
}

// Split reports whether the openssl client has no one transport that gets
// TLS at every address where some transport does: the answer then serves
// the most addresses, and some go in clear.
func (t *Tally) Split() bool { return t.openssl && t.forced == None && t.works == 0 }
