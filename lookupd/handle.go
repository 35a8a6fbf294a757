package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// The domain answers as the server writes them, made once: shared, so
// never to be modified. The empty answer is nil.
var answerWords = func() (w [verdict.Count][]byte) {
	for v := range verdict.Count {
		if s := verdict.Verdict(v).String(); s != "" {
			w[v] = []byte(s)
		}
	}
	return w
}()

func answerBytes(v verdict.Verdict) []byte {
	if int(v) < len(answerWords) {
		return answerWords[v]
	}
	return nil
}

// Handle answers one request; it implements socket.Handler.
func (s *Service) Handle(ctx context.Context, req socket.Request) []byte {
	st := s.st.Load()
	switch req.Verb {
	case socket.VerbDomain:
		start := time.Now()
		ctx, cancel := context.WithTimeout(ctx, st.Config.Answer.Wait.Duration)
		defer cancel()
		d := s.decider.Decide(ctx, &st.Settings, req.Arg, false)
		took := time.Since(start)
		s.answered(&d, took)
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("answer", "domain", d.Domain, "answer", d.Verdict.String(), "source", d.Source, "duration", took)
		}
		return answerBytes(d.Verdict)
	case socket.VerbExplain:
		ctx, cancel := context.WithTimeout(ctx, st.Config.Answer.Wait.Duration)
		defer cancel()
		d := s.decider.Decide(ctx, &st.Settings, req.Arg, true)
		s.decider.MarkFleet(&st.Settings, &d)
		d.HELO = st.probe.HELO
		return jsonLine(d)
	case socket.VerbStats:
		return jsonLine(s.Stats())
	case socket.VerbList:
		l, err := s.List(req.Arg)
		if err != nil {
			return []byte("error: " + err.Error() + "\n")
		}
		return jsonLine(l)
	case socket.VerbReport:
		s.Report(ctx, req.Addr, req.Text)
		return []byte("ok\n")
	case socket.VerbFlush:
		if err := s.Flush(req.Arg); err != nil {
			return []byte("error: " + err.Error() + "\n")
		}
		return []byte("ok\n")
	}
	return nil
}

// Decide finds the verdict for a domain (or local@domain) with the
// settings in force, every detail filled in (explain's view;
// decision.Decider.Decide).
func (s *Service) Decide(ctx context.Context, raw string) decision.Decision {
	return s.decider.Decide(ctx, &s.st.Load().Settings, raw, true)
}

// List answers the list verb with the settings in force
// (decision.Decider.List).
func (s *Service) List(which string) (decision.Listed, error) {
	return s.decider.List(&s.st.Load().Settings, which)
}

// answered counts a domain answer and records the time it took; an
// invalid domain is logged.
func (s *Service) answered(d *decision.Decision, took time.Duration) {
	s.counters.answered(d)
	s.metrics.answered(took)
	if d.Source == decision.SourceInvalid {
		s.log.Warn("answer", "domain", d.Domain, "err", d.Note)
	}
}

func jsonLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":` + fmt.Sprintf("%q", err.Error()) + "}\n")
	}
	return append(b, '\n')
}
