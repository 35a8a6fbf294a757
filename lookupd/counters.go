package lookupd

import (
	"sync"
	"sync/atomic"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// counters are the service's one set of counters: bumped here only (the
// count methods), read by Stats (admin.go) and by the Prometheus collector
// (metrics.go, counterCollector). Every index is a closed set's.
type counters struct {
	answers   [verdict.Count][numSources]atomic.Uint64 // domain answers by verdict and its source
	invalid   atomic.Uint64
	pending   atomic.Uint64
	overrides atomic.Uint64
	lookups   [numCaches][numResults]atomic.Uint64             // cache lookups made to answer
	dnsErrors [origin.NumLookups][numDNSFailures]atomic.Uint64 // failed DNS lookups
	probes    []atomic.Uint64                                  // finished probes, by probeSeries index
	reports   [decision.ReportClasses]atomic.Uint64            // Exim's reports by class
	reprobes  atomic.Uint64                                    // re-probes the misses started

	// moreProbes counts probes of an outcome and stage not in
	// probeSeries (a stage a probe may report since): still bounded, as
	// both come from constants of the code.
	moreMu     sync.Mutex
	moreProbes map[probeKey]*atomic.Uint64
}

// sourceIndex is a decision source's index, a closed set: the sources a
// domain's verdict has (decision.Decision.Source).
type sourceIndex uint8

const numSources = len(sourceLabels)

// sourceLabels are the values of decision.Decision.Source, by sourceIndex.
var sourceLabels = [...]decision.Source{decision.SourceOverride, decision.SourceMX, decision.SourceDNS,
	decision.SourceDNSError, decision.SourcePending, decision.SourceInvalid}

func sourceOf(s decision.Source) sourceIndex {
	for i, l := range sourceLabels {
		if l == s {
			return sourceIndex(i)
		}
	}
	return sourceIndex(len(sourceLabels) - 1) // decide sets no other: counted as invalid
}

// cacheKind is one of the three caches an answer looks up, a closed set.
type cacheKind uint8

const (
	cacheDomains cacheKind = iota
	cacheNames
	cacheAddrs
	numCaches
)

var cacheLabels = [numCaches]string{"domains", "names", "addresses"}

// lookupResult is how a cache lookup was answered, a closed set.
type lookupResult uint8

const (
	resultHit   lookupResult = iota // cached and fresh
	resultStale                     // served, reloading
	resultMiss                      // loaded (or still loading) for this answer
	numResults
)

var resultLabels = [numResults]string{"hit", "stale", "miss"}

// dnsFailures are store.DNSFailure's values, by index.
var dnsFailures = [...]store.DNSFailure{store.DNSServFail, store.DNSTimeout, store.DNSOther}

const numDNSFailures = len(dnsFailures)

type probeKey struct {
	outcome probe.Outcome
	stage   stage.Stage
}

// probeSeries are the outcomes and stages a probe reports: ok without a
// stage, notls at EHLO or STARTTLS, error at any stage; probeIndex is the
// index of each.
var (
	probeSeries = func() []probeKey {
		s := []probeKey{{probe.OK, ""}, {probe.NoTLS, stage.EHLO}, {probe.NoTLS, stage.StartTLS}}
		for _, st := range stage.All {
			s = append(s, probeKey{probe.Error, st})
		}
		return s
	}()
	probeIndex = func() map[probeKey]int {
		m := make(map[probeKey]int, len(probeSeries))
		for i, k := range probeSeries {
			m[k] = i
		}
		return m
	}()
)

func newCounters() *counters {
	return &counters{probes: make([]atomic.Uint64, len(probeSeries))}
}

// answered counts a domain answer d: its verdict and source, whether it
// was invalid, pending or overridden, and the cache lookups it made.
func (c *counters) answered(d *decision.Decision) {
	c.answers[d.Verdict][sourceOf(d.Source)].Add(1)
	switch {
	case d.Source == decision.SourceInvalid:
		c.invalid.Add(1)
	case d.Pending():
		c.pending.Add(1)
	}
	if d.Overridden() {
		c.overrides.Add(1)
	}
	switch d.Source {
	case decision.SourceOverride, decision.SourceInvalid:
		return // no DNS, no cache
	case decision.SourcePending:
		c.lookups[cacheDomains][resultMiss].Add(1)
		return
	}
	c.lookups[cacheDomains][resultOfState(d.DomainState())].Add(1)
	for i := range d.MX {
		h := &d.MX[i]
		c.lookedUp(cacheNames, h.Source)
		for j := range h.Addrs {
			c.lookedUp(cacheAddrs, h.Addrs[j].Source)
		}
	}
}

// lookedUp counts a lookup of cache k by where its answer came from.
func (c *counters) lookedUp(k cacheKind, src decision.Source) {
	switch src {
	case decision.SourceCache:
		c.lookups[k][resultHit].Add(1)
	case decision.SourceStale:
		c.lookups[k][resultStale].Add(1)
	case decision.SourceLookup, decision.SourceProbe, decision.SourcePending:
		c.lookups[k][resultMiss].Add(1)
	}
}

func resultOfState(st cache.State) lookupResult {
	switch st {
	case cache.Fresh:
		return resultHit
	case cache.Stale:
		return resultStale
	}
	return resultMiss
}

// dnsFailed counts a failed DNS lookup.
func (c *counters) dnsFailed(l origin.Lookup, kind store.DNSFailure) {
	e := numDNSFailures - 1 // other
	for i, k := range dnsFailures {
		if k == kind {
			e = i
		}
	}
	if l < origin.NumLookups {
		c.dnsErrors[l][e].Add(1)
	}
}

// probed counts a finished probe by its outcome and, for notls and error,
// the stage it reached.
func (c *counters) probed(f *probe.Facts) {
	k := probeKey{f.Outcome, f.Stage}
	if f.Outcome != probe.NoTLS && f.Outcome != probe.Error {
		k.stage = ""
	}
	if i, ok := probeIndex[k]; ok {
		c.probes[i].Add(1)
		return
	}
	c.moreMu.Lock()
	defer c.moreMu.Unlock()
	n := c.moreProbes[k]
	if n == nil {
		if c.moreProbes == nil {
			c.moreProbes = map[probeKey]*atomic.Uint64{}
		}
		n = new(atomic.Uint64)
		c.moreProbes[k] = n
	}
	n.Add(1)
}

// eachProbeCount calls f with every outcome and stage's count of probes.
func (c *counters) eachProbeCount(f func(k probeKey, n uint64)) {
	for i, k := range probeSeries {
		f(k, c.probes[i].Load())
	}
	c.moreMu.Lock()
	defer c.moreMu.Unlock()
	for k, n := range c.moreProbes {
		f(k, n.Load())
	}
}

// reported counts a report of class rc, and the re-probe it started.
func (c *counters) reported(rc decision.ReportClass, reprobed bool) {
	if rc >= decision.ReportClasses {
		return
	}
	c.reports[rc].Add(1)
	if reprobed {
		c.reprobes.Add(1)
	}
}

// answersBy is the count of answers with verdict v, from every source.
func (c *counters) answersBy(v verdict.Verdict) uint64 {
	var n uint64
	for i := range c.answers[v] {
		n += c.answers[v][i].Load()
	}
	return n
}

// probesDone is the count of finished probes.
func (c *counters) probesDone() uint64 {
	var n uint64
	c.eachProbeCount(func(_ probeKey, v uint64) { n += v })
	return n
}
