package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestPagesMatchHelp: the pages genman writes, as man(1) shows them, hold
// every line of the -help output of tlsprobed and of each tlsprobe command,
// and every key of the example configuration; man --warnings finds nothing
// to complain about.
func TestPagesMatchHelp(t *testing.T) {
	lab.Require(t, "man")
	root := filepath.Join("..", "..", "..")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./cmd/tlsprobed", "./cmd/tlsprobe")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	daemon, cli := filepath.Join(bin, "tlsprobed"), filepath.Join(bin, "tlsprobe")
	out := t.TempDir()
	example := filepath.Join(root, "contrib", "config.example.toml")
	if err := run([]string{"-tlsprobed", daemon, "-tlsprobe", cli, "-config", example, "-version", "1.0", "-date", "2026-12-02", "-out", out}); err != nil {
		t.Fatal(err)
	}
	render := func(page string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "man", "--warnings", "-l", filepath.Join(out, page))
		cmd.Env = append(os.Environ(), "MANWIDTH=200", "MAN_KEEP_FORMATTING=", "LC_ALL=C.UTF-8")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil || stderr.Len() != 0 {
			t.Errorf("man -l %s: %v, warnings:\n%s", page, err, stderr.String())
		}
		return normalize(string(b))
	}
	contains := func(page, shown, want, what string) {
		t.Helper()
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
	contains("tlsprobed.8", render("tlsprobed.8"), help(daemon, "-h"), "tlsprobed -h")
	usage := help(cli, "-h")
	page := render("tlsprobe.1")
	contains("tlsprobe.1", page, usage, "tlsprobe -h")
	cmds := commandsOf(usage)
	if len(cmds) < 8 {
		t.Errorf("commands %v: want the 8 of tlsprobe's usage at least", cmds)
	}
	for _, c := range cmds {
		contains("tlsprobe.1", page, help(cli, c, "-h"), "tlsprobe "+c+" -h")
	}
	conf := render("tlsprobed.toml.5")
	text, _ := os.ReadFile(example)
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

// TestPagesAt80Columns renders the pages as man(1) does on an 80-column
// terminal, with a snapshot version as scripts/deb makes them: the footer's
// three fields stay apart, tlsprobe(1) shows one default for -seclevel,
// the configuration page keeps its sentences apart, and its cache text
// says what cache.hosts holds now.
func TestPagesAt80Columns(t *testing.T) {
	lab.Require(t, "man")
	root := filepath.Join("..", "..", "..")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./cmd/tlsprobed", "./cmd/tlsprobe")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := t.TempDir()
	const version = "0.0~git20261205103000.786f8cd12345+dirty" // as scripts/deb makes it
	if err := run([]string{"-tlsprobed", filepath.Join(bin, "tlsprobed"), "-tlsprobe", filepath.Join(bin, "tlsprobe"),
		"-config", filepath.Join(root, "contrib", "config.example.toml"), "-version", version, "-date", "2026-12-05", "-out", out}); err != nil {
		t.Fatal(err)
	}
	render := func(page string) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "man", "-l", filepath.Join(out, page))
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=", "LC_ALL=C.UTF-8")
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("man -l %s: %v", page, err)
		}
		return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	pages := map[string][]string{}
	for page, title := range map[string]string{"tlsprobed.8": "TLSPROBED(8)", "tlsprobe.1": "TLSPROBE(1)", "tlsprobed.toml.5": "TLSPROBED.TOML(5)"} {
		lines := render(page)
		pages[page] = lines
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
		if v := normalize(strings.Join(lines, "\n")); !strings.Contains(v, "VERSION This page is of exim-tlsprobe "+version+".") {
			t.Errorf("%s: the version is not on the page", page)
		}
	}
	cli := strings.Join(pages["tlsprobe.1"], "\n")
	if i := strings.Index(cli, "-seclevel level"); i < 0 {
		t.Error("tlsprobe.1: no -seclevel")
	} else if para := normalize(cli[i : i+400]); strings.Count(para[:strings.Index(para, " -v ")], "(default") != 1 {
		t.Errorf("tlsprobe.1: -seclevel shows other than one default: %q", para)
	}
	conf := normalize(strings.Join(pages["tlsprobed.toml.5"], "\n"))
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
