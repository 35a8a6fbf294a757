package origin

import (
	"context"
	"fmt"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// probe waits for the address's rate-limit turn, then for a probe slot,
// then probes, and logs one line. The waits are not facts: they end only
// when the service closes, and then the load fails (uncached), never as
// an error fact.
func (d *Direct) probe(ctx context.Context, k store.AddrKey) (store.Record, error) {
	if err := d.limiter.wait(ctx, k.AP.Addr()); err != nil {
		return store.Record{}, err
	}
	slots := *d.slots.Load()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return store.Record{}, fmt.Errorf("wait for a probe slot: %w", context.Cause(ctx))
	}
	defer func() { <-slots }()

	st := d.st.Load()
	o := st.Probe
	o.Client = tlswire.Client(k.Client.String())
	if st.Earlier != nil {
		if f, ok := st.Earlier(k); ok {
			o.Order = probe.OrderFor(&f) // docs/probe.md: a DHE-only server gets the modelled hello first
		}
	}
	d.obs.ProbeStarted()
	f := d.prober(ctx, k.AP, o)
	d.obs.ProbeDone(&f)
	d.log.Info("probe", "addr", k.AP.String(), "client", o.Client, "outcome", f.Outcome, "stage", f.Stage,
		"tls", f.TLSVersion, "key_type", f.KeyType, "key_bits", f.KeyBits, "dh_bits", f.DHBits, "tls13", f.TLS13,
		"no_dhe", f.NoDHE, "verdict", st.Policy.Of(&f).String(), "duration", f.Duration.Round(time.Millisecond), "err", f.Error)
	if ctx.Err() != nil && f.Outcome == probe.Error {
		// Cut short by Close: nothing was learnt about the server.
		return store.Record{}, fmt.Errorf("probe %s: %w", k.AP, context.Cause(ctx))
	}
	return store.NewRecord(&f), nil
}
