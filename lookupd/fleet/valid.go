package fleet

import (
	"errors"
	"fmt"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/observe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// validFacts checks facts read from Redis.
func validFacts(r *store.Record) error {
	views := r.Views()
	if len(views) > observe.MaxViews { // remedies (issue 19): the views, bounded, each valid
		return fmt.Errorf("%d views", len(views))
	}
	for i := range views {
		if views[i].Also != nil {
			return errors.New("a view with views")
		}
		if err := validFacts(&views[i]); err != nil {
			return fmt.Errorf("view %d: %w", i, err)
		}
	}
	switch probe.ReportedFailure(r.Reported.String()) {
	case probe.ReportedNone, probe.ReportedDHTooSmall, probe.ReportedHandshake:
	default:
		return fmt.Errorf("unknown reported %q", r.Reported.String())
	}
	switch probe.Outcome(r.Outcome.String()) {
	case probe.OK, probe.NoTLS, probe.Error:
	default:
		return fmt.Errorf("unknown outcome %q", r.Outcome.String())
	}
	switch probe.NoDHE(r.NoDHE.String()) {
	case probe.NoDHENotTried, probe.NoDHEOK, probe.NoDHERefused:
	default:
		return fmt.Errorf("unknown no_dhe %q", r.NoDHE.String())
	}
	switch {
	case r.Time == 0:
		return errors.New("no time")
	case r.Time.Time().After(time.Now().Add(maxFutureSkew)):
		return errors.New("observed in the future")
	case r.KeyBits < 0 || r.KeyBits > maxFactsBits || r.DHBits < 0 || r.DHBits > maxFactsBits:
		return errors.New("key or DH bits out of range")
	case r.Duration < 0 || r.Duration > store.LoadCeiling:
		return errors.New("duration out of range")
	}
	return nil
}

// validName checks a host name's addresses read from Redis.
func validName(e *store.Name) error {
	switch {
	case e.Err != "":
		return errors.New("a DNS error (never shared)")
	case len(e.Addrs) > store.MaxStoredAddrs:
		return fmt.Errorf("%d addresses", len(e.Addrs))
	}
	for _, a := range e.Addrs {
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			return fmt.Errorf("bad address %v", a)
		}
	}
	return nil
}

// validDomain checks an MX set read from Redis.
func validDomain(e *store.Domain) error {
	s := &e.Set
	switch {
	case e.Err != "":
		return errors.New("a DNS error (never shared)")
	case s.Domain != "":
		return errors.New("a domain inside the value")
	case len(s.Hosts) > maxSharedHosts:
		return fmt.Errorf("%d hosts", len(s.Hosts))
	case (s.Null || s.NXDomain) && len(s.Hosts) > 0:
		return errors.New("hosts in a null MX or NXDOMAIN answer")
	}
	for _, h := range s.Hosts {
		if n, err := mx.Normalize(h.Name); err != nil || n != h.Name {
			return fmt.Errorf("bad host name %q", h.Name)
		}
	}
	return nil
}
