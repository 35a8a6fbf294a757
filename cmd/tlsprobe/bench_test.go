package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests hold the load tool's counting and reporting right against the
// floor; they assert nothing about speed.

func runBenchJSON(t *testing.T, want int, args ...string) benchReport {
	t.Helper()
	var out, errb bytes.Buffer
	if got := run(append([]string{"bench", "-json", "-warmup", "0"}, args...), &out, &errb); got != want {
		t.Fatalf("exit %d, want %d; stderr: %s", got, want, errb.String())
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	return rep
}

func startTestFloor(t *testing.T, word string) string {
	t.Helper()
	f, err := startFloor(word)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f.path
}

// checkPhase: every request is counted once, answered by the floor's word,
// and the percentiles are in order.
func checkPhase(t *testing.T, p phase, target string, clients int, word string) {
	t.Helper()
	if p.Target != target || p.Clients != clients || p.Requests == 0 || p.Errors != 0 || p.Error != "" {
		t.Errorf("phase %+v", p)
	}
	if len(p.Answers) != 1 || p.Answers[word] != p.Requests {
		t.Errorf("answers %v for %d requests, want all %q", p.Answers, p.Requests, word)
	}
	if !(0 < p.P50 && p.P50 <= p.P99 && p.P99 <= p.P999 && p.P999 <= p.Max) || p.RPS <= 0 {
		t.Errorf("figures out of order: %+v", p)
	}
}

func TestBenchDuration(t *testing.T) {
	sock := startTestFloor(t, "tlsexport")
	rep := runBenchJSON(t, 0, "-socket", sock, "-c", "4", "-duration", "200ms", "a.example", "b.example")
	if len(rep.Phases) != 1 || len(rep.Ratios) != 0 {
		t.Fatalf("report %+v", rep)
	}
	checkPhase(t, rep.Phases[0], "daemon", 4, "tlsexport")
	if s := rep.Phases[0].Seconds; s < 0.2 || s > 10 {
		t.Errorf("phase of -duration 200ms took %vs", s)
	}
}

func TestBenchCountAndDomainFile(t *testing.T) {
	sock := startTestFloor(t, "")
	file := filepath.Join(t.TempDir(), "domains")
	if err := os.WriteFile(file, []byte("# test domains\na.example\n\n  b.example # second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jsonFile := filepath.Join(t.TempDir(), "report.json")
	rep := runBenchJSON(t, 0, "-socket", sock, "-c", "3,5", "-n", "101", "-domains", file, "-o", jsonFile)
	if len(rep.Phases) != 2 {
		t.Fatalf("%d phases, want one per client count", len(rep.Phases))
	}
	var saved benchReport
	if data, err := os.ReadFile(jsonFile); err != nil || json.Unmarshal(data, &saved) != nil || len(saved.Phases) != 2 {
		t.Errorf("-o file: %v, %d phases", err, len(saved.Phases))
	}
	for i, c := range []int{3, 5} {
		p := rep.Phases[i]
		checkPhase(t, p, "daemon", c, "")
		if p.Requests != 101 {
			t.Errorf("%d clients: %d requests, want -n 101", c, p.Requests)
		}
	}
}

// TestBenchFloorInProcess: -floor alternates floor and daemon phases and
// reports a ratio per client count with one entry per round.
func TestBenchFloorInProcess(t *testing.T) {
	sock := startTestFloor(t, "smallkey")
	rep := runBenchJSON(t, 0, "-socket", sock, "-floor", "-floor-in-process", "-rounds", "2", "-c", "2", "-duration", "100ms", "x.example")
	if len(rep.Phases) != 4 || len(rep.Ratios) != 1 {
		t.Fatalf("report %+v", rep)
	}
	for i, p := range rep.Phases {
		checkPhase(t, p, []string{"floor", "daemon"}[i%2], 2, "smallkey")
		if p.Round != i/2+1 {
			t.Errorf("phase %d is round %d", i, p.Round)
		}
	}
	r := rep.Ratios[0]
	if r.Clients != 2 || r.RPSRatio <= 0 || r.P99Ratio <= 0 || len(r.RoundRPS) != 2 || len(r.RoundP99) != 2 {
		t.Errorf("ratios %+v", r)
	}
}

// TestBenchFloorProcess runs the built command: -floor starts the floor as
// a process of its own.
func TestBenchFloorProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tlsprobe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := startTestFloor(t, "tlsexport")
	cmd := exec.Command(bin, "bench", "-socket", sock, "-floor", "-floor-word", "tlsexport", "-c", "2", "-duration", "200ms", "-warmup", "0", "x.example")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	text := string(out)
	for _, want := range []string{"floor", "daemon", "daemon/floor at 2 clients: req/s ", `daemon answers: "tlsexport" `} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestBenchErrorsCounted(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	rep := runBenchJSON(t, 1, "-socket", sock, "-c", "2", "-n", "10", "x.example")
	p := rep.Phases[0]
	if p.Requests != 10 || p.Errors != 10 || !strings.Contains(p.Error, "connect") || p.RPS != 0 {
		t.Errorf("phase %+v, want 10 connect errors", p)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench"},                   // no domains
		{"bench", "-c", "0", "x"},   // no clients
		{"bench", "-c", "4,x", "x"}, // not a number
		{"bench", "-duration", "0", "x"},
		{"bench", "-domains", "/nonexistent/file"},
	} {
		var out, errb bytes.Buffer
		if got := run(args, &out, &errb); got != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %s)", args, got, errb.String())
		}
	}
}
