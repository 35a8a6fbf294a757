package lab

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestStartPostfix delivers one message with swaks over STARTTLS to the lab
// Postfix, plain and behind postscreen, in a network namespace of the test:
// Postfix logs the TLS session, the delivery (discarded) and, behind
// postscreen, the pregreet test passed; the cached root's main.cf is left
// as it was.
func TestStartPostfix(t *testing.T) {
	Require(t, "ip", "swaks")
	root := RootDir(t, PostfixRoot)
	mainCF := filepath.Join(root, "etc/postfix/main.cf")
	sum := func() [32]byte {
		b, err := os.ReadFile(mainCF)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()

	ns := fmt.Sprintf("tlsprobe-lab-postfix-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}

	for _, postscreen := range []bool{false, true} {
		t.Run(fmt.Sprintf("postscreen=%v", postscreen), func(t *testing.T) {
			dir, err := os.MkdirTemp("/tmp", "tlsprobe-lab-postfix-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			// Registered before StartPostfix's cleanups: runs after them.
			srv := StartPostfix(t, PostfixOptions{Netns: ns, Dir: dir, Hostname: "mx.lab.test",
				Listen: "127.0.0.1", Cert: "rsa2048", Postscreen: postscreen, Mynetworks: "127.0.0.2/32"})
			out, err := exec.Command("ip", "netns", "exec", ns, "swaks", "--server", "127.0.0.1", "--tls",
				"--ehlo", "client.lab.test", "--from", "sender@client.lab.test", "--to", "user@lab.test").CombinedOutput()
			if err != nil {
				t.Fatalf("swaks: %v\n%s\nPostfix's log:\n%s", err, out, srv.Log())
			}
			srv.WaitLog(t, 15*time.Second, "postfix/discard[", "to=<user@lab.test>", "status=sent")
			if CountLines(srv.Log(), "TLS connection established from localhost[127.0.0.1]") != 1 {
				t.Errorf("no TLS session logged:\n%s", srv.Log())
			}
			if postscreen && CountLines(srv.Log(), "postfix/postscreen[", "PASS NEW [127.0.0.1]") != 1 {
				t.Errorf("postscreen logged no PASS NEW for the client:\n%s", srv.Log())
			}
		})
	}
	if sum() != before {
		t.Errorf("the cached root's %s changed", mainCF)
	}
}
