#!/bin/sh
# Regenerates the exim-*.txt captures: real SMTP replies from Exim 4.96
# (Debian 12) in its -bh test mode, which runs an SMTP session on
# stdin/stdout and touches no network. Run as root from this directory.
# Each .txt holds exactly the bytes Exim wrote (CRLF line ends), minus the
# "**** SMTP testing session" header that -bh prints first.
set -eu
cmds='EHLO probe.example\r\nSTARTTLS\r\nQUIT\r\n'
strip() { sed -n '/^[0-9][0-9][0-9]/,$p'; }
printf "$cmds" | exim -bh 192.0.2.1 2>/dev/null | strip >exim-debian.txt
for c in banner reject defer 454; do
	printf "$cmds" | exim -C "$PWD/exim-$c.conf" -bh 192.0.2.1 2>/dev/null | strip >"exim-$c.txt"
done
