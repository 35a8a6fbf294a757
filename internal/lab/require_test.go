package lab

import "testing"

// fakeTB records Skip and Fatal instead of ending the test.
type fakeTB struct {
	testing.TB
	skipped, fatal bool
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(args ...any)  { f.skipped = true }
func (f *fakeTB) Fatal(args ...any) { f.fatal = true }

func TestRequire(t *testing.T) {
	for _, tc := range []struct {
		ci            string
		tools         []string
		skip, fatally bool
	}{
		{"", []string{"sh"}, false, false},
		{"true", []string{"sh"}, false, false},
		{"", []string{"sh", "no-such-tool-lab"}, true, false},
		{"false", []string{"no-such-tool-lab"}, true, false},
		{"true", []string{"no-such-tool-lab"}, false, true},
	} {
		t.Setenv("CI", tc.ci)
		f := &fakeTB{TB: t}
		Require(f, tc.tools...)
		if f.skipped != tc.skip || f.fatal != tc.fatally {
			t.Errorf("CI=%q Require(%v): skipped=%v fatal=%v, want %v %v", tc.ci, tc.tools, f.skipped, f.fatal, tc.skip, tc.fatally)
		}
	}
}

func TestLookToolSbin(t *testing.T) {
	if !isFile("/usr/sbin/nologin") {
		t.Fatal("no /usr/sbin/nologin (Debian's login package has it)")
	}
	t.Setenv("PATH", "/nonexistent")
	if p, err := lookTool("nologin"); err != nil || p != "/usr/sbin/nologin" {
		t.Errorf("lookTool(nologin) with PATH=/nonexistent = %q, %v", p, err)
	}
}

func TestTestdata(t *testing.T) {
	for _, name := range []string{"certs/rsa2048.crt", "certs/dh768.pem", "fixtures/smtptls.c"} {
		if p := Testdata(t, name); !isFile(p) {
			t.Errorf("Testdata(%q) = %q: not a file", name, p)
		}
	}
}
