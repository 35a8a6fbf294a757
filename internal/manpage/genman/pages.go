package main

import "github.com/exim-tlsprobe/exim-tlsprobe/internal/manpage"

// The prose of the pages; the options come from the commands themselves.

func daemonPage(help, source, date string) manpage.Page {
	P, V, T := manpage.P, manpage.V, manpage.T
	return manpage.Page{
		Name: "tlsprobed", Section: "8", Date: date, Source: source, Manual: "System Manager's Manual",
		Summary: "tell Exim which recipient domains need its small-prime TLS transport",
		Parts: []manpage.Part{
			{Title: "SYNOPSIS", Blocks: []manpage.Block{V("tlsprobed [-config FILE] [-socket PATH] [-log-format text|json] [-log-level LEVEL]\ntlsprobed -check [-config FILE] [-socket PATH]\ntlsprobed -version")}},
			{Title: "DESCRIPTION", Blocks: []manpage.Block{
				P("tlsprobed answers the ${readsocket} lookups of Exim on a Unix socket: for a recipient domain it answers tlsexport (an MX host sends a Diffie-Hellman prime shorter than Exim's tls_dh_min_bits), smallkey (an MX host has an RSA or DSA certificate key under 2048 bits) or nothing. Exim's routers (the conf.d snippets of the exim-tlsprobe package, inert until the macro TLSPROBED_ENABLE is defined) send the flagged domains through the transport remote_smtp_tls_smallprime and every other domain, and all mail whenever the daemon cannot answer, the usual way."),
				P("The daemon resolves the MX hosts itself, probes them on demand over SMTP STARTTLS with a TLS ClientHello modelled on Exim's GnuTLS client, reads the certificate key and the DH prime, and caches the outcome. It runs in the foreground and logs to standard error."),
			}},
			{Title: "OPTIONS", Blocks: []manpage.Block{P("As printed by tlsprobed -h:"), V(help)}},
			{Title: "FILES", Blocks: []manpage.Block{
				T("/etc/tlsprobed/config.toml", "The configuration, see tlsprobed.toml(5). When -config is not given and this file is absent, built-in defaults apply and the log says so; a file named with -config must exist."),
				T("/etc/tlsprobed/overrides.d/*.toml", "More [overrides] tables (overrides.directory in the packaged configuration), such as the output of tlsprobe import."),
				T("/run/tlsprobed/tlsprobed.sock", "The socket (listen.socket), group Debian-exim, mode 0660, in a directory of mode 0750 that systemd creates (RuntimeDirectory)."),
				T("/var/lib/tlsprobed/cache.json", "What was learnt, kept across restarts (cache.file), written every 5 minutes and at exit."),
			}},
			{Title: "SIGNALS", Blocks: []manpage.Block{
				T("SIGHUP", "Reread the configuration and the overrides directory. A file that is broken or missing is refused with the reason (msg=reload result=refused) and the configuration in use stays; listen settings change only on restart."),
				T("SIGTERM, SIGINT", "Stop accepting, answer the requests in flight, write the cache, remove the socket, exit 0."),
			}},
			{Title: "EXIT STATUS", Blocks: []manpage.Block{
				P("0 after SIGTERM or a successful -check; 1 when the configuration is refused or the daemon cannot start (logged as msg=start result=failed with the reason: the socket path is taken by another file or a running daemon, permission denied, a group that does not exist); 2 on bad usage."),
			}},
			{Title: "WHAT REMOTE POSTMASTERS SEE", Blocks: []manpage.Block{
				P("A probe is a short SMTP session from this machine: the banner, EHLO with probe.helo (by default this machine's fully qualified name, which Exim also uses as primary_hostname), STARTTLS, a TLS ClientHello, and then an alert and a close once the server's certificate and key exchange have been read: no mail is sent and no handshake is completed. An Exim on the other side logs it as, for example:"),
				V("TLS error on connection from mail.example.org (mail.example.org) [192.0.2.25] (recv): A TLS fatal alert has been received.: User canceled"),
				P("Each MX address is probed at most probe.rate_per_address (one per 10 seconds, with a burst of 2) and its verdict kept for cache.ttl (24 hours)."),
			}},
			{Title: "SEE ALSO", Blocks: []manpage.Block{P("tlsprobe(1), tlsprobed.toml(5), exim4(8), update-exim4.conf(8); /usr/share/doc/exim-tlsprobe/README.md and README.exim.md.")}},
		},
	}
}

func cliPage(usage string, commands []manpage.Block, source, date string) manpage.Page {
	P, V := manpage.P, manpage.V
	return manpage.Page{
		Name: "tlsprobe", Section: "1", Date: date, Source: source, Manual: "User Commands",
		Summary: "probe mail servers' TLS quirks and query a running tlsprobed",
		Parts: []manpage.Part{
			{Title: "SYNOPSIS", Blocks: []manpage.Block{V(usage)}},
			{Title: "DESCRIPTION", Blocks: []manpage.Block{
				P("tlsprobe is the postmaster's tool for exim-tlsprobe. probe resolves domains' MX hosts and probes them now, explaining the verdict; query, explain, stats, list and flush ask a running tlsprobed(8) over its socket; import reads Exim configuration files and prints the classic domainlist smallkey and tlsexport as an [overrides] table for a file of the overrides directory."),
				P("The daemon's socket is group Debian-exim, mode 0660. Root can always use it; see README.exim.md, \"Admins without root\", for giving other admins the read-only commands without Exim's group."),
			}},
			{Title: "COMMANDS", Blocks: append([]manpage.Block{P("Each command's flags, as printed by tlsprobe COMMAND -h:")}, commands...)},
			{Title: "EXIT STATUS", Blocks: []manpage.Block{
				P("0 done; 1 some work failed (a probe failed, the daemon could not be reached or refused the request, import could not import something); 2 bad usage."),
			}},
			{Title: "SEE ALSO", Blocks: []manpage.Block{P("tlsprobed(8), tlsprobed.toml(5).")}},
		},
	}
}

func configPage(header, keys []manpage.Block, source, date string) manpage.Page {
	P := manpage.P
	return manpage.Page{
		Name: "tlsprobed.toml", Section: "5", Date: date, Source: source, Manual: "File Formats Manual",
		Summary: "configuration of tlsprobed",
		Parts: []manpage.Part{
			{Title: "DESCRIPTION", Blocks: append(header,
				P("The packaged /etc/tlsprobed/config.toml sets the production values: listen.group = \"Debian-exim\", cache.file = \"/var/lib/tlsprobed/cache.json\" and overrides.directory = \"/etc/tlsprobed/overrides.d\". Every key, with its built-in default:"))},
			{Title: "KEYS", Blocks: keys},
			{Title: "SEE ALSO", Blocks: []manpage.Block{P("tlsprobed(8), tlsprobe(1); /usr/share/doc/exim-tlsprobe/examples/config.example.toml, the file this page is generated from.")}},
		},
	}
}
