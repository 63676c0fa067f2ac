package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Target is one entry of discovery.snmp targets, parsed at load so a driver
// never has to re-parse a string or guess what it meant.
type Target struct {
	// Host is an IP address (without brackets) or a host name, as written;
	// empty for a CIDR target. Host names are resolved when probed, not at load,
	// so the gateway starts even when DNS is down.
	Host string
	// Port is the UDP port: the one written, else the sweep's port.
	Port uint16
	// Prefix is the network of a CIDR target; !Prefix.IsValid() otherwise.
	Prefix netip.Prefix
	// Raw is the target exactly as written, for messages.
	Raw string
}

// IsPrefix reports whether the target is a CIDR range rather than one host.
func (t Target) IsPrefix() bool { return t.Prefix.IsValid() }

// HostPort is "host:port" for a single-host target ("[::1]:161" for IPv6),
// ready for net.Dial; empty for a CIDR target.
func (t Target) HostPort() string {
	if t.IsPrefix() {
		return ""
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
}

// Size is how many addresses the target expands to: 1 for a host, 2^(host bits)
// for a CIDR, capped at 1<<62 so IPv6 sizes do not overflow.
func (t Target) Size() uint64 {
	if !t.IsPrefix() {
		return 1
	}
	hostBits := t.Prefix.Addr().BitLen() - t.Prefix.Bits()
	if hostBits >= 62 {
		return 1 << 62
	}
	return 1 << hostBits
}

// String is the canonical form of the target: "127.0.0.1:161",
// "ups1.site.example:161" or "127.0.10.0/28".
func (t Target) String() string {
	if t.IsPrefix() {
		return t.Prefix.String()
	}
	return t.HostPort()
}

// ParseTarget parses a target as written in discovery.snmp targets; port is
// used when raw has none. The error does not repeat raw's key path, only what
// is wrong with it, so callers (the loader, the `edgegw discover` CLI) can
// add their own context.
func ParseTarget(raw string, port uint16) (Target, error) {
	t := Target{Raw: raw, Port: port}
	if raw == "" {
		return t, errors.New("empty target")
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return t, fmt.Errorf("%q contains white space", raw)
	}
	if strings.Contains(raw, "/") {
		p, err := netip.ParsePrefix(raw)
		if err != nil {
			return t, fmt.Errorf("%q is not a valid CIDR (like 127.0.10.0/28)", raw)
		}
		if p.Addr().Zone() != "" {
			return t, fmt.Errorf("%q: a CIDR cannot have a zone", raw)
		}
		if m := p.Masked(); m != p {
			// 127.0.10.5/28 usually means "this host, on that subnet", not
			// "sweep the subnet"; make the user say which.
			return t, fmt.Errorf("%q has host bits set: write %s to sweep the network, or %s for one host", raw, m, p.Addr())
		}
		t.Prefix = p
		return t, nil
	}
	host := raw
	if a, err := netip.ParseAddr(raw); err == nil && a.Is6() {
		// A bare IPv6 address: its colons are not a port separator.
		t.Host = a.String()
		return t, nil
	}
	if strings.HasPrefix(raw, "[") && strings.HasSuffix(raw, "]") {
		host = raw[1 : len(raw)-1]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return t, fmt.Errorf("%q is not a valid IPv6 address", raw)
		}
		t.Host = a.String()
		return t, nil
	}
	if strings.Contains(raw, ":") {
		h, p, err := net.SplitHostPort(raw)
		if err != nil {
			return t, fmt.Errorf("%q is not host:port (write IPv6 as [::1]:161)", raw)
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || n < 1 || n > 65535 {
			return t, fmt.Errorf("%q: port %q is not between 1 and 65535", raw, p)
		}
		t.Port = uint16(n)
		host = h
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Is6() && !strings.HasPrefix(raw, "[") {
				return t, fmt.Errorf("%q is ambiguous: write IPv6 with a port as [%s]:%s", raw, host, p)
			}
			t.Host = a.String()
			return t, nil
		}
		if strings.Contains(host, ":") || strings.HasPrefix(raw, "[") {
			return t, fmt.Errorf("%q is not a valid IPv6 address", raw)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		t.Host = a.String()
		return t, nil
	}
	if err := checkHostname(host); err != nil {
		return t, fmt.Errorf("%q is not an IP address, host name or CIDR: %v", raw, err)
	}
	t.Host = host
	return t, nil
}

// checkHostname applies the RFC 1123 rules. A name whose last label is all
// digits is rejected: it is a mistyped IPv4 address ("300.1.1.1"), which a
// resolver would otherwise be asked about at every sweep.
func checkHostname(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	h = strings.TrimSuffix(h, ".")
	if len(h) > 253 {
		return errors.New("longer than 253 characters")
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return errors.New("each dot-separated part must be 1-63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("a part cannot start or end with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("a host name has only letters, digits, '-' and '.'")
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return errors.New("not a valid IPv4 address")
	}
	return nil
}

// parseTargets parses the targets of the table at key path name in place, with port for those written
// without one.
func parseTargets(es *errs, name string, targets []Target, port uint16) {
	for j := range targets {
		t, err := ParseTarget(targets[j].Raw, port)
		if err != nil {
			es.wrap(fmt.Sprintf("%s.targets[%d]", name, j), err, "%v", err)
		}
		targets[j] = t
	}
}
