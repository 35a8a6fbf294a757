// Package buildinfo formats the module version and build settings that
// both commands print for -version.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// String is one line: program, module version, VCS revision and Go version.
func String(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build info)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", program, bi.Main.Path, bi.Main.Version)
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified":
			fmt.Fprintf(&b, " %s=%s", strings.TrimPrefix(s.Key, "vcs."), s.Value)
		}
	}
	fmt.Fprintf(&b, " %s", bi.GoVersion)
	return b.String()
}
