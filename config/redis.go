package config

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// RedisConfig is the [redis] section: the Redis (or Valkey) that relays of
// one fleet share as a second cache level (docs/design.md section 5). An empty
// URL means no fleet: the daemon works alone, as without the section.
type RedisConfig struct {
	// URL is redis://[user:pass@]host:port/db, rediss://... for TLS, or
	// unix:///path (unix://[user:pass@]/path); "" = no fleet.
	URL string `toml:"url"`
	// Prefix starts every key the daemon writes; relays that share it share
	// what they learn.
	Prefix string `toml:"prefix"`
	// Timeout bounds each Redis call; a Redis slower than that counts as down.
	Timeout Duration `toml:"timeout"`
	// CAFile is a PEM file of the certificate authorities trusted for
	// rediss://; "" = the system's.
	CAFile string `toml:"ca_file"`
}

// Enabled reports whether a fleet is configured.
func (r RedisConfig) Enabled() bool { return r.URL != "" }

// maxRedisPrefix bounds redis.prefix; keys carry an address or a name after it.
const maxRedisPrefix = 64

// check validates the [redis] section.
func (r *RedisConfig) check(v *checker, answerWait time.Duration) {
	if r.URL != "" {
		if msg := redisURLProblem(r.URL); msg != "" {
			v.add("redis.url", "%s", msg)
		}
	}
	switch {
	case r.Prefix == "":
		v.add("redis.prefix", "must be set")
	case len(r.Prefix) > maxRedisPrefix:
		v.add("redis.prefix", "longer than %d bytes", maxRedisPrefix)
	case strings.ContainsAny(r.Prefix, " \t\r\n*?[]"):
		v.add("redis.prefix", "must not hold spaces or glob characters (got %q)", r.Prefix)
	}
	hi := 30 * time.Second // answer.wait's bound; its own check names a bad one
	if answerWait >= 2*time.Millisecond {
		hi = min(hi, answerWait/2)
	}
	v.duration("redis.timeout", r.Timeout, time.Millisecond, hi)
	if r.CAFile != "" {
		if _, err := os.Stat(r.CAFile); err != nil {
			v.add("redis.ca_file", "%v", err)
		}
	}
}

// redisURLProblem says what is wrong with a redis.url, or "".
func redisURLProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL: " + err.Error()
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "no query or fragment allowed (got " + strconv.Quote(s) + ")"
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Hostname() == "" {
			return "no host in " + strconv.Quote(u.Redacted())
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return "bad port in " + strconv.Quote(u.Redacted())
			}
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 || n > 1<<16 {
				return "the path must be a database number (got " + strconv.Quote(u.Path) + ")"
			}
		}
	case "unix":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return "want unix:///absolute/path (got " + strconv.Quote(u.Redacted()) + ")"
		}
	default:
		return "scheme must be redis, rediss or unix (got " + strconv.Quote(u.Scheme) + ")"
	}
	return ""
}
