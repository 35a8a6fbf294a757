package lookupd

import "github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"

// The answers a domain request can get besides the empty one.
const (
	AnswerSmallKey  = string(probe.SmallKey)
	AnswerTLSExport = string(probe.TLSExport)
)

// Verdict is the answer for a domain whose MX hosts had these outcomes: a
// domain gets an answer if any of its MX hosts has it (the classic forany
// over mxh=$domain), and smallkey wins over tlsexport (the classic router
// order). Any other outcome gives the empty answer.
func Verdict(outcomes []probe.Outcome) string {
	v := ""
	for _, o := range outcomes {
		switch o {
		case probe.SmallKey:
			return AnswerSmallKey
		case probe.TLSExport:
			v = AnswerTLSExport
		}
	}
	return v
}
