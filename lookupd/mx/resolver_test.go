package mx

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestServersFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "# test\nsearch example\nnameserver 192.0.2.53\nnameserver ::1\noptions timeout:1\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	old := resolvConf
	resolvConf = path
	t.Cleanup(func() { resolvConf = old })

	got, err := (&Resolver{}).servers()
	if want := []string{"192.0.2.53:53", "[::1]:53"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	// Configured servers win; the port defaults to 53.
	r := &Resolver{Servers: []string{"127.0.0.1:5353", "192.0.2.1", "::1", "[2001:db8::1]", "[2001:db8::2]:54"}}
	got, err = r.servers()
	if want := []string{"127.0.0.1:5353", "192.0.2.1:53", "[::1]:53", "[2001:db8::1]:53", "[2001:db8::2]:54"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("configured: got %q, %v; want %q", got, err, want)
	}

	if err := os.WriteFile(path, []byte("search example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Resolver{}).servers(); err == nil {
		t.Error("resolv.conf without nameserver: no error")
	}
	resolvConf = filepath.Join(t.TempDir(), "absent")
	if _, err := (&Resolver{}).servers(); err == nil {
		t.Error("absent resolv.conf: no error")
	}
}

func TestClamp(t *testing.T) {
	tests := []struct {
		min, max time.Duration
		ttl      uint32
		want     time.Duration
	}{
		{0, 0, 0, DefaultMinTTL},
		{0, 0, 300, 5 * time.Minute},
		{0, 0, 1 << 31, DefaultMaxTTL},
		{time.Second, 10 * time.Second, 5, 5 * time.Second},
		{time.Second, 10 * time.Second, 11, 10 * time.Second},
		{time.Hour, time.Minute, 5, time.Hour}, // max below min: min wins
	}
	for _, tt := range tests {
		r := &Resolver{MinTTL: tt.min, MaxTTL: tt.max}
		if got := r.clamp(tt.ttl); got != tt.want {
			t.Errorf("clamp(%d) with [%v, %v] = %v, want %v", tt.ttl, tt.min, tt.max, got, tt.want)
		}
	}
}
