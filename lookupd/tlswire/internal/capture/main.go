// Command capture records real TLS ClientHellos (and real server flights) for
// the tests of package tlswire. It is run by hand, never by `go test`; see
// testdata/hello/README.md.
//
// Hello mode runs a one-shot SMTP STARTTLS stub (RFC 3207) on 127.0.0.1, drives
// a real client (gnutls-cli or openssl s_client) against it and stores the
// bytes the client sends after "220 ready" (the ClientHello record or records,
// RFC 8446 section 5.1), then answers with a handshake_failure alert.
//
// Flight mode runs `openssl s_server` on 127.0.0.1, writes a ClientHello built
// by tlswire.BuildHello and stores the server's bytes up to ServerHelloDone.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "testdata/hello", "output directory")
	hellos := flag.Bool("hellos", false, "capture the real client hellos")
	flights := flag.Bool("flights", false, "capture real openssl s_server flights")
	flag.Parse()
	if !*hellos && !*flights {
		fmt.Fprintln(os.Stderr, "usage: capture [-dir DIR] -hellos|-flights")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if *hellos {
		for _, c := range helloClients {
			out := filepath.Join(*dir, c.file)
			if err := captureHello(c, out); err != nil {
				log.Fatalf("capture %s: %v", c.file, err)
			}
			log.Printf("wrote %s", out)
		}
	}
	if *flights {
		if err := captureFlights(*dir); err != nil {
			log.Fatal(err)
		}
	}
}
