package verdict

import (
	"fmt"
	"strings"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// An address's facts may hold several views (probe.Facts.Also): what
// different connections, or Exim's reports, saw there, such as the two
// backends of a balancer. Each view counts like an address of its own
// (docs/design.md section 3): one transport must get TLS whichever backend
// a delivery lands on.

// Judge is the verdict of one address's facts under p, every view counted
// like an address of the domain (a Tally over the views).
func (p Policy) Judge(f *probe.Facts) Judgement {
	j := p.judgeView(f)
	if len(f.Also) == 0 {
		return j
	}
	var t Tally
	t.Add(j)
	noTLS := j.NoTLS
	for i := range f.Also {
		v := p.judgeView(&f.Also[i])
		t.Add(v)
		noTLS = noTLS || v.NoTLS
	}
	out := Judgement{Verdict: t.Verdict(), NoTLS: noTLS && t.works == 0}
	if t.any {
		out.Works = t.works
		if t.works == 0 {
			out.Works = transportOrder[t.best()].t // split: the transport of most views
		}
	}
	return out
}

// Reason says in one sentence why the address gets Of's verdict under p;
// other views of the address follow, each with its own reason.
func (p Policy) Reason(f *probe.Facts) string {
	r := p.reasonView(f)
	if len(f.Also) == 0 {
		return r
	}
	var b strings.Builder
	b.WriteString(r)
	for i := range f.Also {
		fmt.Fprintf(&b, "; also seen there %s: %s", f.Also[i].Time.UTC().Format("2006-01-02T15:04:05Z"), p.reasonView(&f.Also[i]))
	}
	return b.String()
}

// reasonReported is the reason of a view made from Exim's report.
func reasonReported(f *probe.Facts) (string, bool) {
	switch f.Reported {
	case probe.ReportedNone:
		return "", false
	case probe.ReportedDHTooSmall:
		return fmt.Sprintf("%s: Exim's %s client refused the server's DH prime as too small (reported: %q)", f.Addr, f.Client, f.Error), true
	}
	return fmt.Sprintf("%s: Exim's %s client failed the TLS handshake (reported: %q)", f.Addr, f.Client, f.Error), true
}
