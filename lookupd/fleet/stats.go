package fleet

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Cache names one of the three caches behind which the Level stands, a
// closed set.
type Cache uint8

const (
	Domains Cache = iota // domain -> MX set
	Names                // host name -> addresses
	Addrs                // address -> facts
	NumCaches
)

var cacheNames = [NumCaches]string{"domains", "names", "addresses"}

func (c Cache) String() string { return cacheNames[c] }

// Source says where a load of a local miss got its value, a closed set.
type Source uint8

const (
	FromRedis Source = iota // in Redis already
	FromPeer                // another relay probed; picked up from Redis when it was there
	FromSelf                // this relay looked up or probed, and wrote it to Redis
	FromAlone               // Redis down or failing: looked up or probed alone
	NumSources
)

var sourceNames = [NumSources]string{"redis", "peer", "self", "alone"}

func (s Source) String() string { return sourceNames[s] }

// Reject is why a value read from Redis was ignored, a closed set.
type Reject uint8

const (
	RejectVersion Reject = iota // written by another version
	RejectCorrupt               // checksum, bounds or content wrong
	NumRejects
)

var rejectNames = [NumRejects]string{"version", "corrupt"}

func (r Reject) String() string { return rejectNames[r] }

// Lock is what became of a probe lock asked for, a closed set.
type Lock uint8

const (
	LockWon  Lock = iota // taken: this relay probes
	LockLost             // held by another relay: this one watches for its facts
	NumLocks
)

var lockNames = [NumLocks]string{"won", "lost"}

func (l Lock) String() string { return lockNames[l] }

// levelCounters are the Level's counters, read by Stats and by Collector.
type levelCounters struct {
	loads    [NumCaches][NumSources]atomic.Uint64
	rejected [NumRejects]atomic.Uint64
	locks    [NumLocks]atomic.Uint64
}

// LevelStats are the counters of the fleet's Redis level (stats verb).
type LevelStats struct {
	Redis Stats `json:"redis"`
	// Loads counts local misses by cache ("domains", "names", "addresses")
	// and where their value came from: "redis" (there already), "peer"
	// (another relay's probe, picked up from Redis), "self" (looked up or
	// probed here and written to Redis), "alone" (Redis down).
	Loads map[string]map[string]uint64 `json:"loads"`
	// Rejected counts values in Redis ignored: "version", "corrupt".
	Rejected map[string]uint64 `json:"rejected"`
	// Locks counts probe locks taken ("won") and found held by another
	// relay ("lost").
	Locks map[string]uint64 `json:"locks"`
}

// Stats are the Level's counters now.
func (l *Level) Stats() *LevelStats {
	s := &LevelStats{Redis: l.c.Stats(), Loads: map[string]map[string]uint64{},
		Rejected: map[string]uint64{}, Locks: map[string]uint64{}}
	for c := range NumCaches {
		m := map[string]uint64{}
		for src := range NumSources {
			m[src.String()] = l.stats.loads[c][src].Load()
		}
		s.Loads[c.String()] = m
	}
	for r := range NumRejects {
		s.Rejected[r.String()] = l.stats.rejected[r].Load()
	}
	for k := range NumLocks {
		s.Locks[k.String()] = l.stats.locks[k].Load()
	}
	return s
}

var (
	loadsDesc = prometheus.NewDesc("tlsprobed_fleet_loads_total",
		"Local cache misses by cache and by where the value came from (redis, peer, self, alone).",
		[]string{"cache", "source"}, nil)
	rejectedDesc = prometheus.NewDesc("tlsprobed_redis_values_rejected_total",
		"Values found in Redis and ignored, by reason (version, corrupt).", []string{"reason"}, nil)
	upDesc = prometheus.NewDesc("tlsprobed_redis_up",
		"1 while the fleet's Redis answers, 0 while it is down (or not asked yet).", nil, nil)
)

// Collector exports the Level's counters to Prometheus, read at scrape
// time (the same counters as Stats), and whether Redis is up.
func (l *Level) Collector() prometheus.Collector { return levelCollector{l} }

type levelCollector struct{ l *Level }

func (c levelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- loadsDesc
	ch <- rejectedDesc
	ch <- upDesc
}

func (c levelCollector) Collect(ch chan<- prometheus.Metric) {
	st := &c.l.stats
	for k := range NumCaches {
		for src := range NumSources {
			ch <- prometheus.MustNewConstMetric(loadsDesc, prometheus.CounterValue, float64(st.loads[k][src].Load()), k.String(), src.String())
		}
	}
	for r := range NumRejects {
		ch <- prometheus.MustNewConstMetric(rejectedDesc, prometheus.CounterValue, float64(st.rejected[r].Load()), r.String())
	}
	up := 0.0
	if c.l.c.State() == StateUp {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
}
