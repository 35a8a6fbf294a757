package fleet

import (
	"context"
	"net/netip"
	"strings"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// The JSON names chainScript reads, written into it: the tags of
// store.Domain.Set, mx.Set.Hosts, mx.Host.Name and store.Name.Addrs.
// TestChainScriptFields fails when a tag and these drift apart.
const (
	jsonSet   = "set"
	jsonHosts = "Hosts"
	jsonName  = "Name"
	jsonAddrs = "addrs"
)

// chainScript reads a domain's MX set, its hosts' addresses and their
// facts in one round trip: a local miss of a domain that the fleet knows
// costs one call, not three one after another. It parses the values only
// to find the next keys (the client checks every value it returns, as any
// other). KEYS[1] is the domain's key; ARGV the name keys' prefix, the
// facts keys' prefix (with the client), the port, the most hosts and the
// most addresses per host. It returns key, value, PTTL triples.
var chainScript = NewScript(chainSource)

// chainSource is chainScript's Lua, with the JSON names put in.
var chainSource = strings.NewReplacer(
	"@SET@", jsonSet, "@HOSTS@", jsonHosts, "@NAME@", jsonName, "@ADDRS@", jsonAddrs,
).Replace(`
local out = {}
local function take(k)
  local v = redis.call('GET', k)
  if not v then return nil end
  local ttl = redis.call('PTTL', k)
  if ttl <= 0 then return nil end
  out[#out+1] = k; out[#out+1] = v; out[#out+1] = ttl
  return v
end
local function body(v)
  local j = string.match(v, '^tp1 %x%x%x%x%x%x%x%x (.*)$')
  if not j then return nil end
  local ok, t = pcall(cjson.decode, j)
  if ok and type(t) == 'table' then return t end
  return nil
end
local d = take(KEYS[1])
local e = d and body(d)
if not e or type(e.@SET@) ~= 'table' or type(e.@SET@.@HOSTS@) ~= 'table' then return out end
local maxh, maxa = tonumber(ARGV[4]), tonumber(ARGV[5])
for i, h in ipairs(e.@SET@.@HOSTS@) do
  if i > maxh then break end
  local n = type(h) == 'table' and type(h.@NAME@) == 'string' and take(ARGV[1] .. h.@NAME@)
  local ne = n and body(n)
  if ne and type(ne.@ADDRS@) == 'table' then
    for j, a in ipairs(ne.@ADDRS@) do
      if j > maxa then break end
      if type(a) == 'string' then
        if string.find(a, ':', 1, true) then a = '[' .. a .. ']' end
        take(ARGV[2] .. a .. ':' .. ARGV[3])
      end
    end
  end
end
return out`)

// getChain asks Redis for domain's MX set and, with it, stores in the
// local caches what Redis holds of its hosts' addresses and their facts
// (chainScript): ok when the MX set was there.
func (l *Level) getChain(ctx context.Context, domain string) (store.Domain, bool, error) {
	p := &l.o.Config().Probe
	client := store.SymOf(p.Client)
	dkey, npfx, fpfx := l.domainKey(domain), l.nameKey(""), l.c.Key(kindFacts, client.String(), "")
	triples, err := l.c.RunTriples(ctx, chainScript, []string{dkey}, npfx, fpfx, p.Port, p.MaxMX, min(2*p.MaxAddresses, store.MaxStoredAddrs))
	if err != nil {
		return store.Domain{}, false, err
	}
	if len(triples) == 0 || triples[0].Key != dkey {
		return store.Domain{}, false, ErrMiss
	}
	var e store.Domain
	if err := l.decode(dkey, triples[0].Val, &e, func() error { return validDomain(&e) }); err != nil {
		return store.Domain{}, false, err
	}
	e.Set.TTL = triples[0].TTL
	for _, t := range triples[1:] {
		switch {
		case strings.HasPrefix(t.Key, npfx):
			host := t.Key[len(npfx):]
			var ne store.Name
			if l.decode(t.Key, t.Val, &ne, func() error { return validName(&ne) }) != nil {
				continue
			}
			ne.TTL = t.TTL
			l.o.Learn.LearnName(host, cache.Loaded[store.Name]{Value: ne, Origin: store.OriginFleet})
			l.count(Names, FromRedis)
		case strings.HasPrefix(t.Key, fpfx):
			ap, err := netip.ParseAddrPort(t.Key[len(fpfx):])
			if err != nil {
				continue
			}
			k := store.AddrKey{AP: ap, Client: client}
			var r store.Record
			if l.decode(t.Key, t.Val, &r, func() error { return validFacts(&r) }) != nil {
				continue
			}
			l.o.Learn.LearnFacts(k, l.took(r, t.TTL, FromRedis))
		}
	}
	return e, true, nil
}
