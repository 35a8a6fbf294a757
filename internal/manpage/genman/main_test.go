package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// pageCase is one run of genman and what man(1) must show of its pages.
type pageCase struct {
	name          string
	version, date string // genman's -version and -date
	width         int    // MANWIDTH
	warnings      bool   // man --warnings must find nothing to complain about
	check         func(t *testing.T, g generated)
}

// generated is what a pageCase checks: the commands the pages document,
// the example configuration, and each page as man shows it.
type generated struct {
	daemon, cli, example string
	pages                map[string]string // "tlsprobed.8", "tlsprobe.1", "tlsprobed.toml.5"
}

// TestPages runs genman on the commands built from the tree, once per
// case, and renders the pages with man(1).
func TestPages(t *testing.T) {
	lab.Require(t, "man")
	root := filepath.Join("..", "..", "..")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./cmd/tlsprobed", "./cmd/tlsprobe")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	g := generated{daemon: filepath.Join(bin, "tlsprobed"), cli: filepath.Join(bin, "tlsprobe"),
		example: filepath.Join(root, "contrib", "config.example.toml")}
	for _, tc := range []pageCase{
		{name: "match help", version: "1.0", date: "2026-12-02", width: 200, warnings: true, check: pagesMatchHelp},
		{name: "80 columns", version: snapshotVersion, date: "2026-12-05", width: 80, check: pagesAt80Columns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if err := run([]string{"-tlsprobed", g.daemon, "-tlsprobe", g.cli, "-config", g.example, "-version", tc.version, "-date", tc.date, "-out", out}); err != nil {
				t.Fatal(err)
			}
			g := g
			g.pages = map[string]string{}
			for _, page := range []string{"tlsprobed.8", "tlsprobe.1", "tlsprobed.toml.5"} {
				g.pages[page] = render(t, filepath.Join(out, page), tc.width, tc.warnings)
			}
			tc.check(t, g)
		})
	}
}

// render is the page at path as man -l shows it at width columns.
func render(t *testing.T, path string, width int, warnings bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-l", path}
	if warnings {
		args = append([]string{"--warnings"}, args...)
	}
	cmd := exec.CommandContext(ctx, "man", args...)
	cmd.Env = append(os.Environ(), "MANWIDTH="+strconv.Itoa(width), "MAN_KEEP_FORMATTING=", "LC_ALL=C.UTF-8")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("man -l %s: %v\n%s", path, err, stderr.String())
	}
	if warnings && stderr.Len() != 0 {
		t.Errorf("man --warnings -l %s:\n%s", path, stderr.String())
	}
	return string(b)
}

// pagesMatchHelp: the pages hold every line of the -help output of
// tlsprobed and of each tlsprobe command, and every key of the example
// configuration.
func pagesMatchHelp(t *testing.T, g generated) {
	contains := func(page, want, what string) {
		t.Helper()
		shown := normalize(g.pages[page])
		for _, line := range strings.Split(want, "\n") {
			if l := normalize(line); l != "" && !strings.Contains(shown, l) {
				t.Errorf("%s: %s line %q is not on the page", page, what, l)
			}
		}
	}
	help := func(args ...string) string {
		t.Helper()
		h, err := helpOf(args[0], args[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	contains("tlsprobed.8", help(g.daemon, "-h"), "tlsprobed -h")
	usage := help(g.cli, "-h")
	contains("tlsprobe.1", usage, "tlsprobe -h")
	cmds := commandsOf(usage)
	if len(cmds) < 8 {
		t.Errorf("commands %v: want the 8 of tlsprobe's usage at least", cmds)
	}
	for _, c := range cmds {
		contains("tlsprobe.1", help(g.cli, c, "-h"), "tlsprobe "+c+" -h")
	}
	conf := normalize(g.pages["tlsprobed.toml.5"])
	text, _ := os.ReadFile(g.example)
	for _, line := range strings.Split(string(text), "\n") {
		if k, _, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, " ") {
			if !strings.Contains(conf, normalize(line)) && !strings.Contains(conf, k+" = [") {
				t.Errorf("tlsprobed.toml.5: key line %q is not on the page", line)
			}
		}
	}
}

// normalize folds runs of white space, and the hyphen man shows for a
// roff \- back to ASCII, so that filled and verbatim text compare.
func normalize(s string) string {
	s = strings.NewReplacer("\u2010", "-", "\u2212", "-", "\u00ad", "").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// snapshotVersion is a version as scripts/deb makes it.
const snapshotVersion = "0.0~git20261205103000.786f8cd12345+dirty"

// pagesAt80Columns: on an 80-column terminal, with a snapshot version, the
// footer's three fields stay apart, tlsprobe(1) shows one default for
// -seclevel, the configuration page keeps its sentences apart, and its
// cache text says what cache.hosts holds now.
func pagesAt80Columns(t *testing.T, g generated) {
	for page, title := range map[string]string{"tlsprobed.8": "TLSPROBED(8)", "tlsprobe.1": "TLSPROBE(1)", "tlsprobed.toml.5": "TLSPROBED.TOML(5)"} {
		lines := strings.Split(strings.TrimRight(g.pages[page], "\n"), "\n")
		footer := lines[len(lines)-1]
		t.Logf("%s footer: %q", page, footer)
		fields := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(footer), -1)
		want := []string{"exim-tlsprobe", "2026-12-05", title}
		if strings.Join(fields, "|") != strings.Join(want, "|") {
			t.Errorf("%s: footer %q, want the fields %q apart", page, footer, want)
		}
		if n := len([]rune(footer)); n > 80 {
			t.Errorf("%s: footer of %d columns", page, n)
		}
		if v := normalize(g.pages[page]); !strings.Contains(v, "VERSION This page is of exim-tlsprobe "+snapshotVersion+".") {
			t.Errorf("%s: the version is not on the page", page)
		}
	}
	cli := strings.TrimRight(g.pages["tlsprobe.1"], "\n")
	if i := strings.Index(cli, "-seclevel level"); i < 0 {
		t.Error("tlsprobe.1: no -seclevel")
	} else if para := normalize(cli[i : i+400]); strings.Count(para[:strings.Index(para, " -v ")], "(default") != 1 {
		t.Errorf("tlsprobe.1: -seclevel shows other than one default: %q", para)
	}
	conf := normalize(g.pages["tlsprobed.toml.5"])
	for _, bad := range []string{"FILE Default location", "MX host outcomes"} {
		if strings.Contains(conf, bad) {
			t.Errorf("tlsprobed.toml.5 still says %q", bad)
		}
	}
	for _, want := range []string{"Check a file with: tlsprobed -check -config FILE", "hosts = 10000 MX addresses whose probe facts are kept"} {
		if !strings.Contains(conf, want) {
			t.Errorf("tlsprobed.toml.5 does not say %q", want)
		}
	}
}
