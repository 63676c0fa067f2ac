package gateway

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
)

// Target is one entry of a driver's target list: a single host, or a prefix whose host addresses are
// swept. Drivers that reach devices by IP (SNMP, Modbus TCP) share it.
type Target struct {
	// Host is an IP address or a host name; empty when Prefix is set.
	Host string
	// Port is the port on every address; drivers fill their default before use.
	Port   uint16
	Prefix netip.Prefix
}

func (t Target) String() string {
	if t.Prefix.IsValid() {
		return t.Prefix.String()
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
}

// Explicit reports whether t names one host (whose silence is worth reporting) rather than a prefix
// (where most addresses have nobody behind them).
func (t Target) Explicit() bool { return !t.Prefix.IsValid() }

// Size is the number of addresses t stands for, saturating at 1<<30.
func (t Target) Size() int {
	if !t.Prefix.IsValid() {
		return 1
	}
	hostBits := t.Prefix.Addr().BitLen() - t.Prefix.Bits()
	if hostBits >= 30 {
		return 1 << 30
	}
	n := 1 << hostBits
	if t.Prefix.Addr().Is4() && hostBits >= 2 {
		n -= 2 // network and broadcast addresses
	}
	return n
}

// Each calls fn with "host:port" for every address of t, lazily, until fn returns false. IPv4 prefixes
// of /30 and wider skip their network and broadcast addresses.
func (t Target) Each(fn func(addr string) bool) error {
	if !t.Prefix.IsValid() {
		if t.Host == "" {
			return errors.New("empty target")
		}
		fn(t.String())
		return nil
	}
	p := t.Prefix.Masked()
	a := p.Addr()
	hostBits := a.BitLen() - p.Bits()
	skipEdges := a.Is4() && hostBits >= 2
	if skipEdges {
		a = a.Next()
	}
	for ; a.IsValid() && p.Contains(a); a = a.Next() {
		if skipEdges && !p.Contains(a.Next()) {
			break // broadcast
		}
		if !fn(netip.AddrPortFrom(a, t.Port).String()) {
			return nil
		}
	}
	return nil
}
