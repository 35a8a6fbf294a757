package observe

import (
	"slices"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

// MaxViews bounds Also: the oldest views beyond it are dropped.
const MaxViews = 4

// Merge is next, the new facts of an address, with the views of prev (its
// main view and its Also) that disagree with every view of next, are
// younger than ttl at now, and are not transient failures (a connection
// that could not finish says nothing about the server's TLS). Facts of
// another address or client than next's are ignored. At most MaxViews
// views are kept in Also, the newest.
//
// The views a probe's own connections showed (probe.Addr fills Also) carry
// no time, address or client of their own: they take those of the facts
// they came with (stamp), so they last the TTL like any view.
func Merge(prev, next probe.Facts, now time.Time, ttl time.Duration) probe.Facts {
	cands := stamp(slices.Clone(next.Also), &next)
	if prev.Addr == next.Addr && prev.Client == next.Client && !prev.Time.IsZero() {
		p := prev
		p.Also = nil
		cands = append(cands, p)
		cands = append(cands, stamp(slices.Clone(prev.Also), &prev)...)
	}
	return keep(next, cands, now, ttl)
}

// stamp gives each view without a time the time of of (the probe that saw
// it), and without an address or client of's.
func stamp(views []probe.Facts, of *probe.Facts) []probe.Facts {
	for i := range views {
		v := &views[i]
		if v.Time.IsZero() {
			v.Time = of.Time
		}
		if !v.Addr.IsValid() {
			v.Addr = of.Addr
		}
		if v.Client == "" {
			v.Client = of.Client
		}
	}
	return views
}

// Add is f with the view v in its Also (v newer than f's Also), on the
// same terms as Merge: a view like one already held replaces it (the newer
// time is kept), expired and transient views go, at most MaxViews stay.
// A view of another address or client is ignored.
func Add(f, v probe.Facts, now time.Time, ttl time.Duration) probe.Facts {
	if v.Addr != f.Addr || v.Client != f.Client {
		return f
	}
	v.Also = nil
	return keep(f, append([]probe.Facts{v}, stamp(slices.Clone(f.Also), &f)...), now, ttl)
}

// keep sets main.Also to the candidates worth keeping, newest first.
func keep(main probe.Facts, cands []probe.Facts, now time.Time, ttl time.Duration) probe.Facts {
	slices.SortStableFunc(cands, func(a, b probe.Facts) int { return b.Time.Compare(a.Time) })
	also := make([]probe.Facts, 0, min(len(cands), MaxViews))
	seen := []shape{shapeOf(&main)}
	for i := range cands {
		c := cands[i]
		c.Also = nil
		switch {
		case len(also) == MaxViews:
		case now.Sub(c.Time) >= ttl:
		case transient(&c):
		case slices.Contains(seen, shapeOf(&c)):
		default:
			seen = append(seen, shapeOf(&c))
			also = append(also, c)
		}
	}
	main.Also = nil
	if len(also) > 0 {
		main.Also = also
	}
	return main
}

// transient: a failure of the connection, not a fact about the server's TLS.
func transient(f *probe.Facts) bool {
	return f.Outcome == probe.Error && f.Stage != stage.Negotiate && f.Reported == probe.ReportedNone
}

// shape is what a view says about the server's TLS: two views of the same
// shape agree (their times, durations, notes and error texts aside).
type shape struct {
	outcome                  probe.Outcome
	stage                    stage.Stage
	version, cipher, keyType string
	keyBits, dhBits          int
	tls13                    bool
	noDHE                    probe.NoDHE
	noDHECipher, sigHash     string
	reported                 probe.ReportedFailure
}

func shapeOf(f *probe.Facts) shape {
	return shape{f.Outcome, f.Stage, f.TLSVersion, f.Cipher, f.KeyType, f.KeyBits, f.DHBits, f.TLS13, f.NoDHE, f.NoDHECipher, f.SigHash, f.Reported}
}
