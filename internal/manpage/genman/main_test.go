package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
