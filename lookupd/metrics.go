package lookupd

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// Metrics are the service's Prometheus metrics, all named tlsprobed_*:
//
//	tlsprobed_requests_total{answer,source}        domain requests (Exim's), by answer word
//	                                               ("smallkey", "tlsexport", "empty") and by
//	                                               where the verdict came from (decision.Decision.Source)
//	tlsprobed_answer_duration_seconds              time to answer a domain request
//	tlsprobed_cache_lookups_total{cache,result}    cache lookups made to answer domain requests:
//	                                               cache "domains", "names" or "addresses",
//	                                               result "hit", "stale" (served, reloading)
//	                                               or "miss"
//	tlsprobed_probes_total{outcome,stage}          finished probes of addresses
//	tlsprobed_probe_duration_seconds{outcome}      time a probe took
//	tlsprobed_probes_in_flight                     probes running now
//	tlsprobed_domains_cached, tlsprobed_names_cached, tlsprobed_addresses_cached
//	                                               entries in the caches, fresh and stale
//	tlsprobed_dns_errors_total{lookup,error}       failed lookups: lookup "mx" or "address",
//	                                               error "servfail", "timeout" or "other"
//	tlsprobed_config_reloads_total{result}         SIGHUP reloads: "success" or "failure"
//	tlsprobed_reports_total{class}                 Exim's reports of failed deliveries: "miss" (a
//	                                               TLS failure the facts did not predict),
//	                                               "confirmed", "unrelated", "malformed"
//	tlsprobed_reprobes_total                       probes started by misses
//
// With [redis] url (a fleet) also:
//
//	tlsprobed_redis_calls_total{op,result}         calls made to Redis: op "get", "set", "lock",
//	                                               "unlock", "watch", "rate", "del", "scan";
//	                                               result "ok" (a miss included) or "error"
//	tlsprobed_redis_call_duration_seconds{op}      time a Redis call took
//	tlsprobed_redis_up                             1 while Redis answers, 0 while it is down
//	tlsprobed_fleet_loads_total{cache,source}      local misses by where their value came from:
//	                                               "redis", "peer" (another relay's probe, picked
//	                                               up from Redis), "self" (looked up or probed
//	                                               here, written to Redis), "alone" (Redis down)
//	tlsprobed_redis_values_rejected_total{reason}  values in Redis ignored: "version", "corrupt"
//
// Every labelled series is created up front, so that all of them are
// exported from the start (at 0) and recording allocates nothing. A nil
// *Metrics records nothing.
type Metrics struct {
	requests     *prometheus.CounterVec
	requestsBy   [len(answerLabels)][len(sourceLabels)]prometheus.Counter
	answerTime   prometheus.Histogram
	lookups      [3][3]prometheus.Counter // [domains, names, addresses][hit, stale, miss]
	probes       *prometheus.CounterVec
	probesBy     map[probeKey]prometheus.Counter
	probeTime    map[probe.Outcome]prometheus.Observer
	probeTimeVec *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	dnsErrors    [2][3]prometheus.Counter // [mx, address][servfail, timeout, other]
	reloads      [2]prometheus.Counter    // success, failure
	reports      [decision.ReportClasses]prometheus.Counter
	reprobes     prometheus.Counter
}

type probeKey struct {
	outcome probe.Outcome
	stage   stage.Stage
}

var (
	// answerLabels are indexed by verdict.Verdict.
	answerLabels = [verdict.Count]string{verdict.None: "empty", verdict.TLSExport: "tlsexport", verdict.SmallKey: "smallkey",
		verdict.NoDHE: "nodhe", verdict.SecLevel1: "seclevel1", verdict.SecLevel0: "seclevel0"} // remedies (issue 19): seclevel0
	// sourceLabels are the values of decision.Decision.Source.
	sourceLabels = [...]decision.Source{decision.SourceOverride, decision.SourceMX, decision.SourceDNS, decision.SourceDNSError, decision.SourcePending, decision.SourceInvalid}
	// probeStages are the stages a probe reports with its outcome.
	probeStages = map[probe.Outcome][]stage.Stage{
		probe.OK:    {""},
		probe.NoTLS: {stage.EHLO, stage.StartTLS},
		probe.Error: stage.All,
	}
	// answerBuckets run from 100µs (a cached answer) to 10s (beyond
	// answer.wait, which is at most 1m but 2s by default).
	answerBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 2.5, 5, 10}
	// probeBuckets run from 10ms (a refused connection) to 60s (probe.timeout
	// is 30s by default; servers may wait 20s before their banner).
	probeBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}
)

// Instrument creates the service's metrics and registers them with reg;
// from then on the service records into them. Call it before serving.
func (s *Service) Instrument(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlsprobed_requests_total",
			Help: "Domain requests answered, by answer word (smallkey, tlsexport, nodhe, seclevel1, seclevel0, empty) and by source of the verdict.",
		}, []string{"answer", "source"}),
		answerTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tlsprobed_answer_duration_seconds",
			Help:    "Time taken to answer a domain request.",
			Buckets: answerBuckets,
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlsprobed_probes_total",
			Help: "Probes of addresses finished, by outcome and, for notls and error, the stage reached.",
		}, []string{"outcome", "stage"}),
		probeTimeVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tlsprobed_probe_duration_seconds",
			Help:    "Time taken by a probe of one address, by outcome.",
			Buckets: probeBuckets,
		}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tlsprobed_probes_in_flight",
			Help: "Probes of addresses running now.",
		}),
		probesBy:  map[probeKey]prometheus.Counter{},
		probeTime: map[probe.Outcome]prometheus.Observer{},
	}
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsprobed_cache_lookups_total",
		Help: "Cache lookups made to answer domain requests, by cache (domains, names, addresses) and result (hit, stale, miss).",
	}, []string{"cache", "result"})
	dnsErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsprobed_dns_errors_total",
		Help: "Failed DNS lookups, by lookup (mx, address) and error (servfail, timeout, other).",
	}, []string{"lookup", "error"})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsprobed_config_reloads_total",
		Help: "Configuration reloads, by result (success, failure).",
	}, []string{"result"})
	names := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tlsprobed_names_cached",
		Help: "MX host names' address sets in the cache, fresh and stale.",
	}, func() float64 { return float64(s.names.Len()) })
	addrs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tlsprobed_addresses_cached",
		Help: "Addresses' facts in the cache, fresh and stale.",
	}, func() float64 { return float64(s.facts.Len()) })
	domains := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tlsprobed_domains_cached",
		Help: "Domain MX sets in the cache, fresh and stale.",
	}, func() float64 { return float64(s.domains.Len()) })

	for i, a := range answerLabels {
		for j, src := range sourceLabels {
			m.requestsBy[i][j] = m.requests.WithLabelValues(a, string(src))
		}
	}
	for i, c := range [...]string{"domains", "names", "addresses"} {
		for j, r := range [...]string{"hit", "stale", "miss"} {
			m.lookups[i][j] = lookups.WithLabelValues(c, r)
		}
	}
	for outcome, stages := range probeStages {
		for _, st := range stages {
			m.probesBy[probeKey{outcome, st}] = m.probes.WithLabelValues(string(outcome), string(st))
		}
		m.probeTime[outcome] = m.probeTimeVec.WithLabelValues(string(outcome))
	}
	for i, l := range [...]string{"mx", "address"} {
		for j, e := range [...]string{"servfail", "timeout", "other"} {
			m.dnsErrors[i][j] = dnsErrors.WithLabelValues(l, e)
		}
	}
	m.reloads[0] = reloads.WithLabelValues("success")
	m.reloads[1] = reloads.WithLabelValues("failure")
	reports := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsprobed_reports_total",
		Help: "Reports of failed deliveries from Exim (report verb), by class: miss (a TLS failure the facts did not predict; the address is probed again), confirmed, unrelated, malformed.",
	}, []string{"class"})
	for c := range decision.ReportClasses {
		m.reports[c] = reports.WithLabelValues(c.String())
	}
	m.reprobes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tlsprobed_reprobes_total",
		Help: "Probes of addresses started by reports of prediction misses.",
	})

	for _, c := range []prometheus.Collector{m.requests, m.answerTime, lookups, m.probes, m.probeTimeVec,
		m.inFlight, domains, names, addrs, dnsErrors, reloads, reports, m.reprobes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, c := range s.extraCollectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	s.metrics = m
	return m, nil
}

// Reloaded counts a configuration reload that succeeded or failed.
func (m *Metrics) Reloaded(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloads[0].Inc()
	} else {
		m.reloads[1].Inc()
	}
}

// answered records a domain request: its answer, source, time, and the
// cache lookups its decision made.
func (m *Metrics) answered(d *decision.Decision, took time.Duration) {
	if m == nil {
		return
	}
	if i := slices.Index(sourceLabels[:], d.Source); i >= 0 {
		m.requestsBy[d.Verdict][i].Inc()
	} else {
		m.requests.WithLabelValues(answerLabels[d.Verdict], string(d.Source)).Inc()
	}
	m.answerTime.Observe(took.Seconds())
	switch d.Source {
	case decision.SourceOverride, decision.SourceInvalid:
		return // no DNS, no cache
	case decision.SourcePending:
		m.lookups[0][2].Inc()
		return
	}
	m.lookups[0][lookupResult(d.DomainState())].Inc()
	for i := range d.MX {
		h := &d.MX[i]
		m.countLookup(1, h.Source)
		for j := range h.Addrs {
			m.countLookup(2, h.Addrs[j].Source)
		}
	}
}

// countLookup counts a lookup of cache c (1 names, 2 addresses) by where
// its answer came from.
func (m *Metrics) countLookup(c int, src decision.Source) {
	switch src {
	case decision.SourceCache:
		m.lookups[c][0].Inc()
	case decision.SourceStale:
		m.lookups[c][1].Inc()
	case decision.SourceLookup, decision.SourceProbe, decision.SourcePending:
		m.lookups[c][2].Inc()
	}
}

func lookupResult(st cache.State) int {
	switch st {
	case cache.Fresh:
		return 0
	case cache.Stale:
		return 1
	}
	return 2
}

// probeStarted counts a probe in flight until probeDone.
func (m *Metrics) probeStarted() {
	if m != nil {
		m.inFlight.Inc()
	}
}

// probeDone records a finished probe.
func (m *Metrics) probeDone(r *probe.Facts) {
	if m == nil {
		return
	}
	m.inFlight.Dec()
	st := r.Stage
	if r.Outcome != probe.NoTLS && r.Outcome != probe.Error {
		st = ""
	}
	if c, ok := m.probesBy[probeKey{r.Outcome, st}]; ok {
		c.Inc()
	} else {
		// A stage or outcome added since: still bounded, as both come
		// from constants of the code.
		m.probes.WithLabelValues(string(r.Outcome), string(st)).Inc()
	}
	if o, ok := m.probeTime[r.Outcome]; ok {
		o.Observe(r.Duration.Seconds())
	} else {
		m.probeTimeVec.WithLabelValues(string(r.Outcome)).Observe(r.Duration.Seconds())
	}
}

// dnsError counts a failed lookup.
func (m *Metrics) dnsError(l origin.Lookup, kind store.DNSFailure) {
	if m == nil {
		return
	}
	e := 2
	switch kind {
	case store.DNSServFail:
		e = 0
	case store.DNSTimeout:
		e = 1
	}
	m.dnsErrors[l][e].Inc()
}

// reported counts a report of class c, and the re-probe it started.
func (m *Metrics) reported(c decision.ReportClass, reprobed bool) {
	if m == nil || c >= decision.ReportClasses {
		return
	}
	m.reports[c].Inc()
	if reprobed {
		m.reprobes.Inc()
	}
}
