// Package manpage writes Unix manual pages (roff, man macros) from plain
// text: prose paragraphs, and verbatim blocks such as a command's -help
// output, so that the installed pages are generated from the commands
// themselves and cannot drift from them (see genman, run by scripts/deb).
package manpage
