package sim

import (
	"fmt"
	"net/netip"
	"strings"
)

// IsPrefix reports whether listen names a prefix ("127.0.10.0/24") rather
// than one address, i.e. whether devices get one address each.
func IsPrefix(listen string) bool { return strings.Contains(listen, "/") }

// PlanAddrs returns the address of each of n devices for Options.Listen and
// Options.BasePort (see there). It refuses anything that is not loopback
// (127.0.0.0/8 or ::1), a port range past 65535, and a prefix with fewer
// host addresses than n.
func PlanAddrs(listen string, basePort, n int) ([]netip.AddrPort, error) {
	if n < 1 {
		return nil, fmt.Errorf("sim: device count %d must be at least 1", n)
	}
	if basePort < 0 || basePort > 65535 {
		return nil, fmt.Errorf("sim: base port %d out of range 0..65535", basePort)
	}
	switch listen {
	case "", "localhost":
		listen = "127.0.0.1"
	}
	out := make([]netip.AddrPort, n)
	if IsPrefix(listen) {
		p, err := netip.ParsePrefix(listen)
		if err != nil {
			return nil, fmt.Errorf("sim: listen %q: %w", listen, err)
		}
		p = p.Masked()
		a := p.Addr()
		if a.Is6() || !a.IsLoopback() || p.Bits() < 8 {
			if a.Is6() && a.IsLoopback() && p.Bits() == 128 {
				return planOne(a, basePort, n, out)
			}
			return nil, notLoopback(listen)
		}
		first, count := hostRange(a.As4(), p.Bits())
		if uint64(n) > count {
			return nil, fmt.Errorf("sim: listen %q: %d host addresses, need %d", listen, count, n)
		}
		for i := range out {
			v := first + uint32(i)
			out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), uint16(basePort))
		}
		return out, nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(listen, "["), "]"))
	if err != nil {
		return nil, fmt.Errorf("sim: listen %q: want a loopback IP address or prefix: %w", listen, err)
	}
	a = a.Unmap()
	if !a.IsLoopback() || a.Zone() != "" {
		return nil, notLoopback(listen)
	}
	return planOne(a, basePort, n, out)
}

func planOne(a netip.Addr, basePort, n int, out []netip.AddrPort) ([]netip.AddrPort, error) {
	if basePort != 0 && basePort+n-1 > 65535 {
		return nil, fmt.Errorf("sim: ports %d..%d run past 65535", basePort, basePort+n-1)
	}
	for i := range out {
		port := 0
		if basePort != 0 {
			port = basePort + i
		}
		out[i] = netip.AddrPortFrom(a, uint16(port))
	}
	return out, nil
}

// hostRange returns the first usable host address of an IPv4 prefix and how
// many there are: network and broadcast addresses are skipped unless the
// prefix is /31 or /32.
func hostRange(a [4]byte, bits int) (first uint32, count uint64) {
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	size := uint64(1) << (32 - bits)
	if bits >= 31 {
		return base, size
	}
	return base + 1, size - 2
}

func notLoopback(listen string) error {
	return fmt.Errorf("sim: listen %q is not loopback: the simulator binds only 127.0.0.0/8 or ::1", listen)
}
