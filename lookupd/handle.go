package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

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
		ctx, cancel := context.WithTimeout(ctx, st.cfg.Answer.Wait.Duration)
		defer cancel()
		d := s.decide(ctx, st, req.Arg, modeLive, false)
		took := time.Since(start)
		s.count(&d)
		s.metrics.answered(&d, took)
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("answer", "domain", d.Domain, "answer", d.Verdict.String(), "source", d.Source, "duration", took)
		}
		return answerBytes(d.Verdict)
	case socket.VerbExplain:
		ctx, cancel := context.WithTimeout(ctx, st.cfg.Answer.Wait.Duration)
		defer cancel()
		d := s.decide(ctx, st, req.Arg, modeLive, true)
		s.markRedis(&d)
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

// count adds a domain answer to the counters of Stats.
func (s *Service) count(d *Decision) {
	s.answers[d.Verdict].Add(1)
	switch {
	case d.Source == SourceInvalid:
		s.invalid.Add(1)
		s.log.Warn("answer", "domain", d.Domain, "err", d.Note)
	case d.pending:
		s.pending.Add(1)
	}
	if d.overridden {
		s.overrides.Add(1)
	}
}

func jsonLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":` + fmt.Sprintf("%q", err.Error()) + "}\n")
	}
	return append(b, '\n')
}
