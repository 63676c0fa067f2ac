// Package neigh looks up hosts' MAC addresses in the kernel's neighbour (ARP) table, for protocols
// that do not say a device's MAC themselves (mDNS without a MAC in TXT, a Modbus TCP device).
package neigh

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// arpPath is Linux's IPv4 neighbour table. IPv6 neighbours are only in netlink (RTM_GETNEIGH), which
// this package does not read yet: IPv6-only hosts get no MAC from here.
const arpPath = "/proc/net/arp"

// Lookup returns the MAC of ip from the neighbour table, lower-case with colons, when the kernel has
// a complete entry for it. It reads the table of the network namespace the process is in.
func Lookup(ip netip.Addr) (string, bool) {
	f, err := os.Open(arpPath)
	if err != nil {
		return "", false
	}
	defer f.Close()
	return lookup(f, ip)
}

// atfCom is ATF_COM, the flag of a completed entry.
const atfCom = 0x2

func lookup(r io.Reader, ip netip.Addr) (string, bool) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return "", false
	}
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		// IP address  HW type  Flags  HW address  Mask  Device
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || a != ip {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil || flags&atfCom == 0 {
			continue
		}
		hw, err := net.ParseMAC(f[3])
		if err != nil || len(hw) != 6 || hw[0]&1 == 1 || hw.String() == "00:00:00:00:00:00" {
			continue
		}
		return hw.String(), true
	}
	return "", false
}
