package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

// tls13Certificate reads the certificate of a server that speaks only TLS
// 1.3, where it travels encrypted: crypto/tls completes a handshake, trusting
// nothing, and returns the leaf certificate.
func tls13Certificate(ctx context.Context, o Options, addr string) ([]byte, tls.ConnectionState, error) {
	conn, err := startTLS(ctx, o, addr)
	if err != nil {
		return nil, tls.ConnectionState{}, err
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true, // we read the key size; trust is not the question
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, tls.ConnectionState{}, &stage.Error{Stage: stage.TLS13, Err: fmt.Errorf("tls 1.3 handshake: %w", err)}
	}
	st := tc.ConnectionState()
	tc.Close()
	if len(st.PeerCertificates) == 0 {
		return nil, st, &stage.Error{Stage: stage.TLS13, Err: errors.New("server sent no certificate")}
	}
	return st.PeerCertificates[0].Raw, st, nil
}
