package config

import (
	"strings"
	"testing"
	"time"
)

func TestRedisValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(r *RedisConfig)
		want string // "" = valid; else the single error
	}{
		{"absent", func(r *RedisConfig) {}, ""},
		{"tcp", func(r *RedisConfig) { r.URL = "redis://10.0.0.5:6379/0" }, ""},
		{"user and password", func(r *RedisConfig) { r.URL = "redis://relay:s%40cret@redis.example:6379/2" }, ""},
		{"tls", func(r *RedisConfig) { r.URL = "rediss://redis.example" }, ""},
		{"unix", func(r *RedisConfig) { r.URL = "unix:///run/redis/redis.sock" }, ""},
		{"unix with password", func(r *RedisConfig) { r.URL = "unix://:pw@/run/redis/redis.sock" }, ""},
		{"scheme", func(r *RedisConfig) { r.URL = "http://redis.example" }, `redis.url: scheme must be redis, rediss or unix (got "http")`},
		{"no host", func(r *RedisConfig) { r.URL = "redis:///0" }, `redis.url: no host in "redis:///0"`},
		{"db", func(r *RedisConfig) { r.URL = "redis://h:6379/x" }, `redis.url: the path must be a database number (got "/x")`},
		{"port", func(r *RedisConfig) { r.URL = "redis://:pw@h:99999" }, `redis.url: bad port in "redis://:xxxxx@h:99999"`},
		{"query", func(r *RedisConfig) { r.URL = "redis://h?skip_verify=true" }, `redis.url: no query or fragment allowed (got "redis://h?skip_verify=true")`},
		{"unix relative", func(r *RedisConfig) { r.URL = "unix://run/redis.sock" }, `redis.url: want unix:///absolute/path (got "unix://run/redis.sock")`},
		{"prefix empty", func(r *RedisConfig) { r.Prefix = "" }, "redis.prefix: must be set"},
		{"prefix glob", func(r *RedisConfig) { r.Prefix = "a*" }, `redis.prefix: must not hold spaces or glob characters (got "a*")`},
		{"prefix long", func(r *RedisConfig) { r.Prefix = strings.Repeat("p", 65) }, "redis.prefix: longer than 64 bytes"},
		{"timeout", func(r *RedisConfig) { r.Timeout = Duration{2 * time.Second} }, "redis.timeout: must be between 1ms and 1s (got 2s)"},
		{"ca file", func(r *RedisConfig) { r.CAFile = "/nonexistent/ca.pem" }, "redis.ca_file: stat /nonexistent/ca.pem: no such file or directory"},
	} {
		c := Default()
		tc.edit(&c.Redis)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	if d := Default(); d.Redis.Enabled() || d.Redis.Prefix != "tlsprobed:" {
		t.Errorf("default [redis] %+v: want no fleet, prefix tlsprobed:", d.Redis)
	}
}
