package origin

import (
	"log/slog"
	"sync"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// DNSPatternRun is how many DNS lookups in a row must fail before the
// failure is logged as a pattern (DNS broken, not one bad domain).
const DNSPatternRun = 8

// DNSPattern is the state dnsWatch logs: how every recent lookup failed,
// or DNSWorks.
type DNSPattern string

const (
	DNSWorks        DNSPattern = ""         // the last lookup succeeded
	DNSAllNXDomain  DNSPattern = "nxdomain" // every domain is said not to exist
	DNSAllServFail  DNSPattern = "servfail"
	DNSAllTimeout   DNSPattern = "timeout"
	DNSAllOther     DNSPattern = "other"
	DNSMixedFailure DNSPattern = "mixed" // failing, in more than one way
)

// patternOf is the pattern of one failed lookup of kind k.
func patternOf(k store.DNSFailure) DNSPattern {
	switch k {
	case store.DNSServFail:
		return DNSAllServFail
	case store.DNSTimeout:
		return DNSAllTimeout
	}
	return DNSAllOther
}

// dnsWatch notices when DNS as a whole fails (every domain NXDOMAIN, every
// lookup SERVFAIL or timing out: a broken resolver, a firewall), which
// makes every answer empty, and says so at info level once per change of
// state: when DNSPatternRun lookups in a row have failed, and when a
// lookup works again. Each lookup is also logged at warn level
// (Direct.MX), but only this line says that it is all of them.
type dnsWatch struct {
	mu      sync.Mutex
	run     int        // lookups failed in a row
	pattern DNSPattern // of the run
	state   DNSPattern // logged
}

// observe records a lookup: p is DNSWorks when it succeeded.
func (w *dnsWatch) observe(log *slog.Logger, p DNSPattern) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p == DNSWorks {
		if w.state != DNSWorks {
			log.Info("dns", "event", "lookups work again", "after", string(w.state), "failed_in_a_row", w.run)
		}
		w.run, w.pattern, w.state = 0, DNSWorks, DNSWorks
		return
	}
	switch {
	case w.run == 0:
		w.pattern = p
	case w.pattern != p:
		w.pattern = DNSMixedFailure
	}
	w.run++
	if w.run >= DNSPatternRun && w.pattern != w.state {
		w.state = w.pattern
		log.Info("dns", "event", "every lookup fails", "pattern", string(w.pattern), "failed_in_a_row", w.run,
			"note", "answers are empty until DNS works; 'tlsprobe explain DOMAIN' shows what a domain's lookup gave")
	}
}
