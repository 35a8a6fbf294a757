package lookupd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
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
// The counters are the service's (counters.go, the ones Stats reads too),
// collected at each scrape by counterCollector; the histograms, the gauge
// of probes in flight and the reloads are recorded here. Every labelled
// series is exported from the start (at 0) and recording allocates
// nothing. A nil *Metrics records nothing.
type Metrics struct {
	answerTime   prometheus.Histogram
	probeTime    map[probe.Outcome]prometheus.Observer
	probeTimeVec *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	reloads      [2]prometheus.Counter // success, failure
}

var (
	// answerLabels are indexed by verdict.Verdict.
	answerLabels = [verdict.Count]string{verdict.None: "empty", verdict.TLSExport: "tlsexport", verdict.SmallKey: "smallkey",
		verdict.NoDHE: "nodhe", verdict.SecLevel1: "seclevel1", verdict.SecLevel0: "seclevel0"} // remedies (issue 19): seclevel0
	// answerBuckets run from 100µs (a cached answer) to 10s (beyond
	// answer.wait, which is at most 1m but 2s by default).
	answerBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 2.5, 5, 10}
	// probeBuckets run from 10ms (a refused connection) to 60s (probe.timeout
	// is 30s by default; servers may wait 20s before their banner).
	probeBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}
)

// Instrument creates the service's metrics and registers them with reg,
// with the collector of its counters, the gauges of its caches and what
// a decorator of the origin adds (the fleet's); from then on the service
// records into them. Call it before serving.
func (s *Service) Instrument(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsprobed_config_reloads_total",
		Help: "Configuration reloads, by result (success, failure).",
	}, []string{"result"})
	m.reloads[0] = reloads.WithLabelValues("success")
	m.reloads[1] = reloads.WithLabelValues("failure")
	cs := []prometheus.Collector{counterCollector{s.counters}, m.answerTime, m.probeTimeVec, m.inFlight, reloads}
	cs = append(cs, s.cacheGauges()...)
	for _, c := range append(cs, s.extraCollectors...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	s.metrics = m
	return m, nil
}

// newMetrics makes the histograms and the gauge of probes in flight.
func newMetrics() *Metrics {
	m := &Metrics{
		answerTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tlsprobed_answer_duration_seconds",
			Help:    "Time taken to answer a domain request.",
			Buckets: answerBuckets,
		}),
		probeTimeVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tlsprobed_probe_duration_seconds",
			Help:    "Time taken by a probe of one address, by outcome.",
			Buckets: probeBuckets,
		}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tlsprobed_probes_in_flight",
			Help: "Probes of addresses running now.",
		}),
		probeTime: map[probe.Outcome]prometheus.Observer{},
	}
	for _, k := range probeSeries {
		if _, ok := m.probeTime[k.outcome]; !ok {
			m.probeTime[k.outcome] = m.probeTimeVec.WithLabelValues(string(k.outcome))
		}
	}
	return m
}

// cacheGauges are the entries in each cache, read at each scrape.
func (s *Service) cacheGauges() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tlsprobed_domains_cached",
			Help: "Domain MX sets in the cache, fresh and stale.",
		}, func() float64 { return float64(s.domains.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tlsprobed_names_cached",
			Help: "MX host names' address sets in the cache, fresh and stale.",
		}, func() float64 { return float64(s.names.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tlsprobed_addresses_cached",
			Help: "Addresses' facts in the cache, fresh and stale.",
		}, func() float64 { return float64(s.facts.Len()) }),
	}
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

// answered records the time a domain answer took (the counters count the
// answer: counters.answered).
func (m *Metrics) answered(took time.Duration) {
	if m != nil {
		m.answerTime.Observe(took.Seconds())
	}
}

// probeStarted counts a probe in flight until probeDone.
func (m *Metrics) probeStarted() {
	if m != nil {
		m.inFlight.Inc()
	}
}

// probeDone records the time a finished probe took (the counters count
// it: counters.probed).
func (m *Metrics) probeDone(r *probe.Facts) {
	if m == nil {
		return
	}
	m.inFlight.Dec()
	if o, ok := m.probeTime[r.Outcome]; ok {
		o.Observe(r.Duration.Seconds())
	} else {
		m.probeTimeVec.WithLabelValues(string(r.Outcome)).Observe(r.Duration.Seconds())
	}
}

// The descriptions of the counters counterCollector exports.
var (
	requestsDesc = prometheus.NewDesc("tlsprobed_requests_total",
		"Domain requests answered, by answer word (smallkey, tlsexport, nodhe, seclevel1, seclevel0, empty) and by source of the verdict.",
		[]string{"answer", "source"}, nil)
	lookupsDesc = prometheus.NewDesc("tlsprobed_cache_lookups_total",
		"Cache lookups made to answer domain requests, by cache (domains, names, addresses) and result (hit, stale, miss).",
		[]string{"cache", "result"}, nil)
	probesDesc = prometheus.NewDesc("tlsprobed_probes_total",
		"Probes of addresses finished, by outcome and, for notls and error, the stage reached.",
		[]string{"outcome", "stage"}, nil)
	dnsErrorsDesc = prometheus.NewDesc("tlsprobed_dns_errors_total",
		"Failed DNS lookups, by lookup (mx, address) and error (servfail, timeout, other).",
		[]string{"lookup", "error"}, nil)
	reportsDesc = prometheus.NewDesc("tlsprobed_reports_total",
		"Reports of failed deliveries from Exim (report verb), by class: miss (a TLS failure the facts did not predict; the address is probed again), confirmed, unrelated, malformed.",
		[]string{"class"}, nil)
	reprobesDesc = prometheus.NewDesc("tlsprobed_reprobes_total",
		"Probes of addresses started by reports of prediction misses.", nil, nil)
)

// counterCollector exports the service's counters (counters.go) at each
// scrape: the numbers stats shows are the ones Prometheus reads.
type counterCollector struct{ c *counters }

// Describe implements prometheus.Collector.
func (cc counterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requestsDesc, lookupsDesc, probesDesc, dnsErrorsDesc, reportsDesc, reprobesDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (cc counterCollector) Collect(ch chan<- prometheus.Metric) {
	c := cc.c
	counter := func(d *prometheus.Desc, n uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), labels...)
	}
	for v, a := range answerLabels {
		for i, src := range sourceLabels {
			counter(requestsDesc, c.answers[v][i].Load(), a, string(src))
		}
	}
	for k, cl := range cacheLabels {
		for r, rl := range resultLabels {
			counter(lookupsDesc, c.lookups[k][r].Load(), cl, rl)
		}
	}
	c.eachProbeCount(func(k probeKey, n uint64) { counter(probesDesc, n, string(k.outcome), string(k.stage)) })
	for l := range origin.NumLookups {
		for e, kind := range dnsFailures {
			counter(dnsErrorsDesc, c.dnsErrors[l][e].Load(), l.String(), string(kind))
		}
	}
	for rc := range decision.ReportClasses {
		counter(reportsDesc, c.reports[rc].Load(), rc.String())
	}
	counter(reprobesDesc, c.reprobes.Load())
}
