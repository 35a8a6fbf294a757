package config

import (
	"strconv"
	"strings"
)

// Error is one problem found in a configuration. Parse, Load and Validate return
// either one *Error or several joined with errors.Join (one per line); use errors.As
// to get at them.
type Error struct {
	File string // the file, when loaded from one
	Line int    // 1-based line, when known (decoding errors; 0 for Validate's)
	Key  string // dotted key, e.g. "probe.timeout" or "overrides.none[2]"; "" when unknown
	Msg  string // what is wrong
}

// Error formats e as "FILE:LINE: KEY: MSG", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// setFile records file in every *Error inside err (a single *Error or a join
// of them) that names no file yet.
func setFile(err error, file string) {
	switch e := err.(type) {
	case *Error:
		if e.File == "" {
			e.File = file
		}
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			setFile(x, file)
		}
	}
}
