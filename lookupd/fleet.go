package lookupd

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/fleet"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// withFleet puts the fleet's Redis ([redis] url) before the service's
// origin (fleet.Level), and adds its counters to Stats and the metrics.
func (s *Service) withFleet(cfg *config.Config) error {
	calls := newRedisCallMetrics()
	c, err := fleet.Dial(fleet.Options{
		URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix, Timeout: cfg.Redis.Timeout.Duration, CAFile: cfg.Redis.CAFile,
		Log:     s.log,
		Observe: calls.observe,
	})
	if err != nil {
		return fmt.Errorf("redis.url: %w", err)
	}
	level := fleet.New(s.origin, c, fleet.LevelOptions{
		Config:   func() *config.Config { return s.st.Load().Config },
		FactsTTL: s.factsTTL,
		Learn:    learner{s},
	})
	s.origin = level
	s.extraStats = append(s.extraStats, func(st *Stats) { st.Fleet = level.Stats() })
	s.extraCollectors = append(s.extraCollectors, calls.calls, calls.times, level.Collector())
	return nil
}

// learner stores in the caches what a fleet's chain brings besides the MX
// set (fleet.Learner); facts pass newFacts as every load's.
type learner struct{ s *Service }

func (l learner) LearnName(host string, v cache.Loaded[store.Name]) { l.s.names.SetLoaded(host, v) }

func (l learner) LearnFacts(k store.AddrKey, v cache.Loaded[store.Record]) {
	l.s.facts.SetLoaded(k, l.s.newFacts(k, v))
}

// redisBuckets run from 50µs (loopback) to 1s (beyond redis.timeout's
// default of 100ms).
var redisBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// redisCallMetrics are the metrics of the calls made to Redis, recorded
// from the start, exported once Instrument registers them.
type redisCallMetrics struct {
	calls  *prometheus.CounterVec
	times  *prometheus.HistogramVec
	counts [fleet.NumOps][2]prometheus.Counter // [op][ok, error]
	timeBy [fleet.NumOps]prometheus.Observer
}

func newRedisCallMetrics() *redisCallMetrics {
	m := &redisCallMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlsprobed_redis_calls_total",
			Help: "Calls made to the fleet's Redis, by operation and result (ok, a miss included, or error).",
		}, []string{"op", "result"}),
		times: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tlsprobed_redis_call_duration_seconds",
			Help:    "Time taken by a call to the fleet's Redis, by operation.",
			Buckets: redisBuckets,
		}, []string{"op"}),
	}
	for _, op := range fleet.Ops {
		m.counts[op][0] = m.calls.WithLabelValues(op.String(), "ok")
		m.counts[op][1] = m.calls.WithLabelValues(op.String(), "error")
		m.timeBy[op] = m.times.WithLabelValues(op.String())
	}
	return m
}

// observe records a call to Redis (fleet.Options.Observe).
func (m *redisCallMetrics) observe(op fleet.Op, took time.Duration, err error) {
	if m.timeBy[op] == nil {
		return
	}
	r := 0
	if err != nil {
		r = 1
	}
	m.counts[op][r].Inc()
	m.timeBy[op].Observe(took.Seconds())
}
