package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// The non-empty domain answers as the server writes them, made once:
// shared, so never to be modified.
var (
	smallKeyBytes  = []byte(AnswerSmallKey)
	tlsExportBytes = []byte(AnswerTLSExport)
)

func answerBytes(verdict string) []byte {
	switch verdict {
	case "":
		return nil
	case AnswerSmallKey:
		return smallKeyBytes
	case AnswerTLSExport:
		return tlsExportBytes
	}
	return []byte(verdict)
}

// Handle answers one request; it implements Handler.
func (s *Service) Handle(ctx context.Context, req socket.Request) []byte {
	st := s.st.Load()
	switch req.Verb {
	case socket.VerbDomain:
		start := time.Now()
		ctx, cancel := context.WithTimeout(ctx, st.cfg.Answer.Wait.Duration)
		defer cancel()
		d := s.decide(ctx, req.Arg, false)
		took := time.Since(start)
		s.count(d)
		s.metrics.answered(&d, took)
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("answer", "domain", d.Domain, "answer", d.Verdict, "source", d.Source, "duration", took)
		}
		return answerBytes(d.Verdict)
	case socket.VerbExplain:
		ctx, cancel := context.WithTimeout(ctx, st.cfg.Answer.Wait.Duration)
		defer cancel()
		return jsonLine(s.Decide(ctx, req.Arg))
	case socket.VerbStats:
		return jsonLine(s.Stats())
	case socket.VerbList:
		l, err := s.List(req.Arg)
		if err != nil {
			return []byte("error: " + err.Error() + "\n")
		}
		return jsonLine(l)
	case socket.VerbFlush:
		if err := s.Flush(req.Arg); err != nil {
			return []byte("error: " + err.Error() + "\n")
		}
		return []byte("ok\n")
	}
	return nil
}

func (s *Service) count(d Decision) {
	switch d.Verdict {
	case AnswerSmallKey:
		s.answers[1].Add(1)
	case AnswerTLSExport:
		s.answers[2].Add(1)
	default:
		s.answers[0].Add(1)
	}
	switch d.Source {
	case "invalid":
		s.invalid.Add(1)
		s.log.Warn("answer", "domain", d.Domain, "err", d.Note)
	case "pending":
		s.pending.Add(1)
	case "override":
		s.overrid.Add(1)
	}
	for _, h := range d.MX {
		if h.Source == "pending" {
			s.pending.Add(1)
			break
		}
	}
}

func jsonLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":` + fmt.Sprintf("%q", err.Error()) + "}\n")
	}
	return append(b, '\n')
}
