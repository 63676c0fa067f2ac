package snmp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// TrapsTable is the [traps] table: the receiver of SNMP traps and informs (docs/traps.md). It is off
// until listen is set.
type TrapsTable struct {
	// Listen is the UDP address to receive on, "0.0.0.0:162" (every IPv4 address), "[::]:162",
	// "10.20.0.5:162" or a high port ("0.0.0.0:10162") behind a firewall redirect; "" (the default) is
	// off. Ports below 1024 need CAP_NET_BIND_SERVICE.
	Listen string `toml:"listen"`
	// Community is the v1/v2c community traps must carry. Unset, the communities of the
	// [[discovery.snmp]] tables are accepted. Prefer CommunityFile.
	Community     config.Secret `toml:"community"`
	CommunityFile string        `toml:"community_file"`
	// Allow lists the sources (addresses or CIDR prefixes) traps are accepted from. Unset (the
	// default), only the addresses of discovered devices are.
	Allow []string `toml:"allow"`
	// RateLimit is how many traps per second one source may send on average, and RateBurst how many in
	// a row; the rest are dropped and counted. Defaults 10 and 50.
	RateLimit float64 `toml:"rate_limit"`
	RateBurst int     `toml:"rate_burst"`
	// EngineID is the receiver's SNMPv3 engine id, in hex (5 to 32 octets): informs are sent to it, and
	// some devices must be told it. Default: derived from gateway.id, so it stays the same across
	// restarts and reinstalls.
	EngineID string `toml:"engine_id"`

	allow  []netip.Prefix
	engine []byte
}

// Defaults and limits of [traps].
const (
	trapsTable            = "traps"
	defaultTrapRate       = 10
	defaultTrapBurst      = 50
	maxTrapRate           = 10_000
	minEngineID, maxEngID = 5, 32
)

// trapsKeys are every key of [traps], for the example config's test.
var trapsKeys = []string{"listen", "community", "community_file", "allow", "rate_limit", "rate_burst", "engine_id"}

// SetDefaults fills [traps] before its keys are decoded.
func (t *TrapsTable) SetDefaults() {
	*t = TrapsTable{RateLimit: defaultTrapRate, RateBurst: defaultTrapBurst}
}

// Name is the table's key.
func (t *TrapsTable) Name() string { return trapsTable }

// Sweep is nil: the receiver sweeps nothing.
func (t *TrapsTable) Sweep() []config.Target { return nil }

// decodeTraps reads [traps].
func decodeTraps(t tomlx.Table, env *config.Env) config.Table {
	var s TrapsTable
	s.SetDefaults()
	tomlx.Decode(t, &s)
	env.ReadSecret(t, "community", &s.Community, &s.CommunityFile, defaultCommunity)
	s.check(t.Doc.Errorf, t.Key)
	return &s
}

// check reports every problem of [traps] at its key; key makes a key path of a key of the table.
func (s *TrapsTable) check(check config.Checker, key func(string) string) {
	if s.Listen != "" {
		if ap, err := listenAddr(s.Listen); err != nil {
			check(key("listen"), "%q %v", s.Listen, err)
		} else if ap.Port() == 0 {
			check(key("listen"), "%q has port 0, which would be a random port that no device could be told; use 162", s.Listen)
		}
	}
	s.allow = nil
	for i, a := range s.Allow {
		p, err := parseAllow(a)
		if err != nil {
			check(fmt.Sprintf("%s[%d]", key("allow"), i), "%q %v", a, err)
			continue
		}
		s.allow = append(s.allow, p)
	}
	if s.RateLimit <= 0 || s.RateLimit > maxTrapRate {
		check(key("rate_limit"), "must be more than 0 and at most %d traps per second, got %v", maxTrapRate, s.RateLimit)
	}
	config.InRange(check, key("rate_burst"), s.RateBurst, 1, 100_000)
	if s.EngineID != "" {
		b, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(s.EngineID), "0x"))
		switch {
		case err != nil:
			check(key("engine_id"), "%q is not hex (\"80001f8804...\")", s.EngineID)
		case len(b) < minEngineID || len(b) > maxEngID:
			check(key("engine_id"), "is %d octets; an SNMP engine id has 5 to 32 (RFC 3411)", len(b))
		default:
			s.engine = b
		}
	}
}

// listenAddr checks a listen address: an IP literal (or none, for every address) and a port.
func listenAddr(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("is not host:port (\"0.0.0.0:162\")")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("has a bad port %q", port)
	}
	if host == "" {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("names %q, which is not an IP address (the receiver binds an address, not a name)", host)
	}
	return netip.AddrPortFrom(a, uint16(n)), nil
}

// parseAllow reads an address or a CIDR prefix.
func parseAllow(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("is not an address or CIDR prefix")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("is not an address or CIDR prefix")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// defaultEngineID derives the receiver's engine id from the gateway's id: RFC 3411's enterprise format
// under net-snmp's number (8072) with format 5 (octets), then 12 octets of SHA-256("edgegw " + id). An
// empty id (a one-off command) gives the hash of "edgegw ".
func defaultEngineID(gatewayID string) []byte {
	h := sha256.Sum256([]byte("edgegw " + gatewayID))
	return append([]byte{0x80, 0x00, 0x1f, 0x88, 0x05}, h[:12]...)
}

// trapOptions turns [traps] and the discovery tables into the receiver's options. This is where the
// receiver's secrets leave config.Secret.
func (s *TrapsTable) trapOptions(groups []Group, gatewayID string) *TrapOptions {
	if s == nil || s.Listen == "" {
		return nil
	}
	o := &TrapOptions{Listen: s.Listen, Allow: s.allow, RateLimit: s.RateLimit, RateBurst: s.RateBurst, EngineID: s.engine}
	if o.EngineID == nil {
		o.EngineID = defaultEngineID(gatewayID)
	}
	if c := s.Community.Reveal(); c != "" {
		o.Communities = []string{c}
	} else {
		for _, g := range groups {
			if g.Version != V3 && g.Community != "" && !slices.Contains(o.Communities, g.Community) {
				o.Communities = append(o.Communities, g.Community)
			}
		}
	}
	for _, g := range groups {
		if g.V3 != nil {
			o.Users = append(o.Users, *g.V3)
		}
	}
	return o
}
