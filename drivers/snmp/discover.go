package snmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/gateway"
)

// Standard OIDs read at discovery.
const (
	oidSysDescr    = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID = ".1.3.6.1.2.1.1.2.0"
	oidSysUpTime   = ".1.3.6.1.2.1.1.3.0"
	oidSysName     = ".1.3.6.1.2.1.1.5.0"

	oidIfType       = ".1.3.6.1.2.1.2.2.1.3"
	oidIfPhysAddr   = ".1.3.6.1.2.1.2.2.1.6"
	oidEntPhysClass = ".1.3.6.1.2.1.47.1.1.1.1.5"
	oidEntPhysSer   = ".1.3.6.1.2.1.47.1.1.1.1.11"
	entPhysPrefix   = ".1.3.6.1.2.1.47.1.1.1.1."

	oidPrtSerial      = ".1.3.6.1.2.1.43.5.1.1.17.1"
	oidHrDeviceDescr1 = ".1.3.6.1.2.1.25.3.2.1.3.1"
	oidUpsMfr         = ".1.3.6.1.2.1.33.1.1.1.0"
	oidUpsModel       = ".1.3.6.1.2.1.33.1.1.2.0"
	oidUpsSoftware    = ".1.3.6.1.2.1.33.1.1.3.0"
)

// entPhysicalTable columns.
const (
	entDescr       = 2
	entHardwareRev = 8
	entFirmwareRev = 9
	entSoftwareRev = 10
	entSerialNum   = 11
	entMfgName     = 12
	entModelName   = 13
)

// maxValueLen bounds any identity string an agent sends. Longer values are refused as an error for that
// device: nothing legitimate is that long, and storing it would let one agent bloat every twin.
const maxValueLen = 4096

// maxTableRows bounds the table walks done at discovery (interfaces, entities); a big switch has
// hundreds, nothing needs thousands.
const maxTableRows = 1024

// Discover sweeps every configured target once. An address listed as a single host that does not answer
// is reported through failed; silent addresses inside a swept prefix are not (nobody is there).
func (d *Driver) Discover(ctx context.Context, found func(gateway.Sighting), failed func(gateway.TargetError)) error {
	type job struct {
		g        *Group
		addr     string
		explicit bool
	}
	total := d.countAddresses()
	jobs := make(chan job)
	var done atomic.Int64
	var wg sync.WaitGroup
	workers := min(d.opts.Concurrency, max(total, 1))
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				s, err := d.Identify(ctx, j.addr, &j.g.Credentials, j.g.Timeout, j.g.Retries)
				switch {
				case err == nil:
					found(s)
				case ctx.Err() != nil:
				case j.explicit || !isTimeout(err):
					failed(gateway.TargetError{Protocol: Protocol, Address: j.addr, Err: err})
				default:
					d.log.Debug("no agent", "target", j.addr, "err", err)
				}
				n := done.Add(1)
				if d.opts.Progress != nil {
					d.opts.Progress(int(n), total)
				}
			}
		})
	}
	sent := 0
	func() {
		defer close(jobs)
		for i := range d.opts.Groups {
			g := &d.opts.Groups[i]
			for _, t := range g.Targets {
				err := t.Each(func(addr string) bool {
					if sent >= d.opts.MaxAddresses {
						return false
					}
					sent++
					select {
					case jobs <- job{g: g, addr: addr, explicit: t.Explicit()}:
						return true
					case <-ctx.Done():
						return false
					}
				})
				if err != nil {
					failed(gateway.TargetError{Protocol: Protocol, Address: t.String(), Err: fmt.Errorf("snmp: %w", err)})
				}
				if ctx.Err() != nil || sent >= d.opts.MaxAddresses {
					return
				}
			}
		}
	}()
	wg.Wait()
	if sent >= d.opts.MaxAddresses && sent < total {
		d.log.Warn("discovery stopped at the address limit", "max_addresses", d.opts.MaxAddresses, "targets", total)
	}
	return ctx.Err()
}

// countAddresses is how many addresses a pass will probe (capped by MaxAddresses), for progress.
func (d *Driver) countAddresses() int {
	n := 0
	for _, g := range d.opts.Groups {
		for _, t := range g.Targets {
			n += t.Size()
			if n >= d.opts.MaxAddresses {
				return d.opts.MaxAddresses
			}
		}
	}
	return n
}

// Identify reads one agent's identity: MIB-II system group, the first real interface's MAC, the ENTITY-MIB
// chassis entry, Printer-MIB and UPS-MIB identity, then the identity OIDs of the profile that matches.
func (d *Driver) Identify(ctx context.Context, addr string, c *Credentials, timeout time.Duration, retries int) (gateway.Sighting, error) {
	cl, err := d.open(ctx, addr, c, timeout, retries)
	if err != nil {
		return gateway.Sighting{}, err
	}
	defer cl.done()

	s := gateway.Sighting{Protocol: Protocol, Address: addr, Credential: c.Name}
	// One GET for every scalar we may want; an agent that lacks some answers noSuchObject for those.
	oids := []string{oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysName,
		oidPrtSerial, oidHrDeviceDescr1, oidUpsMfr, oidUpsModel, oidUpsSoftware}
	if d.opts.Profiles != nil {
		oids = appendNew(oids, d.opts.Profiles.ProbeOIDs()...)
	}
	// sysObjectID first, alone with the rest: a v1 agent answering noSuchName for one drops only that.
	vals, err := cl.get(oids)
	if err != nil {
		return s, describe(addr, "read system group", err)
	}
	if _, ok := vals[oidSysObjectID]; !ok {
		if _, ok := vals[oidSysDescr]; !ok {
			return s, fmt.Errorf("snmp %s: agent answered but has no system group (sysDescr, sysObjectID)", addr)
		}
	}
	id := &s.Identity
	var bad []error
	str := func(oid string) string {
		v, err := text(vals[oid])
		if err != nil {
			bad = append(bad, fmt.Errorf("%s: %w", oidName(oid), err))
		}
		return v
	}
	id.SysDescr = str(oidSysDescr)
	id.SysObjectID = oidValue(vals[oidSysObjectID])
	id.Hostname = usable(str(oidSysName))
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		id.IP = ap.Addr().String()
	}

	// ENTITY-MIB chassis, then the other standard MIBs, in falling order of trust.
	ent, err := cl.entity()
	if err != nil && !isTimeout(err) {
		d.log.Debug("entity-mib walk failed", "target", addr, "err", err)
	}
	if isTimeout(err) {
		return s, describe(addr, "walk ENTITY-MIB", err)
	}
	entStr := func(col int) string { return usable(str(entPhysPrefix + strconv.Itoa(col) + "." + ent)) }
	if ent != "" {
		cols := []string{}
		for _, col := range []int{entDescr, entHardwareRev, entFirmwareRev, entSoftwareRev, entSerialNum, entMfgName, entModelName} {
			cols = append(cols, entPhysPrefix+strconv.Itoa(col)+"."+ent)
		}
		more, err := cl.get(cols)
		if err != nil {
			return s, describe(addr, "read ENTITY-MIB chassis", err)
		}
		for k, v := range more {
			vals[k] = v
		}
		id.Serial = entStr(entSerialNum)
		id.Model = entStr(entModelName)
		id.Manufacturer = entStr(entMfgName)
		id.Firmware = first(entStr(entFirmwareRev), entStr(entSoftwareRev))
		id.Hardware = entStr(entHardwareRev)
	}
	id.Serial = first(id.Serial, usable(str(oidPrtSerial)))
	id.Manufacturer = first(id.Manufacturer, usable(str(oidUpsMfr)))
	id.Model = first(id.Model, usable(str(oidUpsModel)))
	id.Firmware = first(id.Firmware, usable(str(oidUpsSoftware)))

	mac, err := cl.firstMAC()
	if isTimeout(err) {
		return s, describe(addr, "walk ifTable", err)
	}
	id.MAC = mac

	if d.opts.Profiles != nil {
		present := func(oid string) bool { _, ok := vals[normOID(oid)]; return ok }
		if p := d.opts.Profiles.Match(*id, present); p != nil {
			s.Profile = p.Name
			byOID, err := cl.profileIdentity(p, id, vals)
			if err != nil {
				return s, describe(addr, "read identity OIDs of profile "+p.Name, err)
			}
			id.Manufacturer = first(id.Manufacturer, p.Manufacturer)
			// A profile's sysDescr rule is vendor knowledge: it beats the standard MIBs, not the profile's
			// own identity OIDs.
			fromDescr(&id.Serial, byOID.Serial, p.Identity.SerialFromSysDescr, id.SysDescr)
			fromDescr(&id.Model, byOID.Model, p.Identity.ModelFromSysDescr, id.SysDescr)
			fromDescr(&id.Firmware, byOID.Firmware, p.Identity.FirmwareFromSysDescr, id.SysDescr)
			fromDescr(&id.Hardware, byOID.Hardware, p.Identity.HardwareFromSysDescr, id.SysDescr)
		}
	}
	if len(bad) > 0 {
		return s, fmt.Errorf("snmp %s: bad identity values: %w", addr, errors.Join(bad...))
	}
	s.Seen = time.Now()
	return s, nil
}

// profileIdentity reads the vendor identity OIDs a profile names; usable values override. It returns the
// fields those OIDs set.
func (cl *client) profileIdentity(p *gateway.Profile, id *gateway.Identity, have map[string]gosnmp.SnmpPDU) (gateway.IdentityOIDs, error) {
	var set gateway.IdentityOIDs
	fields := []struct {
		oid  string
		dst  *string
		mac  bool
		mark *string
	}{
		{p.Identity.Serial, &id.Serial, false, &set.Serial},
		{p.Identity.Model, &id.Model, false, &set.Model},
		{p.Identity.Manufacturer, &id.Manufacturer, false, &set.Manufacturer},
		{p.Identity.Firmware, &id.Firmware, false, &set.Firmware},
		{p.Identity.Hardware, &id.Hardware, false, &set.Hardware},
		{p.Identity.MAC, &id.MAC, true, &set.MAC},
	}
	var want []string
	for _, f := range fields {
		if f.oid != "" {
			if _, ok := have[normOID(f.oid)]; !ok {
				want = appendNew(want, normOID(f.oid))
			}
		}
	}
	if len(want) > 0 {
		got, err := cl.get(want)
		if err != nil {
			return set, err
		}
		for k, v := range got {
			have[k] = v
		}
	}
	for _, f := range fields {
		if f.oid == "" {
			continue
		}
		pdu, ok := have[normOID(f.oid)]
		if !ok {
			continue
		}
		if f.mac {
			if m := macOf(pdu); m != "" {
				*f.dst, *f.mark = m, f.oid
			}
			continue
		}
		if v, err := text(pdu); err == nil && usable(v) != "" {
			*f.dst, *f.mark = usable(v), f.oid
		}
	}
	return set, nil
}

// fromDescr sets an identity field from sysDescr with a profile's expression (the loader checked that it
// compiles with one group), unless one of the profile's identity OIDs already set it (setByOID).
func fromDescr(dst *string, setByOID, expr, sysDescr string) {
	if setByOID != "" || expr == "" {
		return
	}
	if m := regexp.MustCompile(expr).FindStringSubmatch(sysDescr); m != nil && usable(m[1]) != "" {
		*dst = usable(m[1])
	}
}

// entity finds the ENTITY-MIB chassis row: the first entry of class chassis(3); failing that, the first
// entry with a serial number (agents such as net-snmp with override lines fill only some columns).
func (cl *client) entity() (string, error) {
	idx := ""
	err := cl.walk(oidEntPhysClass, maxTableRows, func(p gosnmp.SnmpPDU) {
		if idx == "" && gosnmp.ToBigInt(p.Value).Int64() == 3 {
			idx = strings.TrimPrefix(normOID(p.Name), oidEntPhysClass+".")
		}
	})
	if idx != "" || isTimeout(err) {
		return idx, err
	}
	err = cl.walk(oidEntPhysSer, maxTableRows, func(p gosnmp.SnmpPDU) {
		if v, _ := text(p); idx == "" && usable(v) != "" {
			idx = strings.TrimPrefix(normOID(p.Name), oidEntPhysSer+".")
		}
	})
	return idx, err
}

// Interface types whose address is the device's own: ethernetCsmacd, fastEther, gigabitEthernet,
// ieee80211, and friends. Loopbacks, tunnels and virtual bridges often carry invented or shared MACs.
var realIfTypes = map[int64]bool{6: true, 7: true, 62: true, 69: true, 71: true, 117: true}

// firstMAC returns the MAC of the lowest-numbered real interface, or else of any interface with a usable
// MAC, or "" when none.
func (cl *client) firstMAC() (string, error) {
	types := map[string]int64{}
	err := cl.walk(oidIfType, maxTableRows, func(p gosnmp.SnmpPDU) {
		types[strings.TrimPrefix(normOID(p.Name), oidIfType+".")] = gosnmp.ToBigInt(p.Value).Int64()
	})
	if isTimeout(err) {
		return "", err
	}
	type cand struct {
		idx  int
		real bool
		mac  string
	}
	var cands []cand
	err = cl.walk(oidIfPhysAddr, maxTableRows, func(p gosnmp.SnmpPDU) {
		key := strings.TrimPrefix(normOID(p.Name), oidIfPhysAddr+".")
		m := macOf(p)
		if m == "" {
			return
		}
		n, _ := strconv.Atoi(key)
		cands = append(cands, cand{idx: n, real: realIfTypes[types[key]], mac: m})
	})
	if len(cands) == 0 {
		return "", err
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].real != cands[j].real {
			return cands[i].real
		}
		return cands[i].idx < cands[j].idx
	})
	return cands[0].mac, err
}

// macOf returns a usable unicast MAC held by an OCTET STRING varbind, or "". Six octets only: some agents
// put text in ifPhysAddress ("HostPC"), and zero, broadcast and multicast addresses identify nothing.
func macOf(p gosnmp.SnmpPDU) string {
	b, ok := p.Value.([]byte)
	if !ok {
		return ""
	}
	if len(b) == 17 { // an agent that sends the text form
		if hw, err := net.ParseMAC(string(b)); err == nil {
			b = hw
		}
	}
	if len(b) != 6 || b[0]&1 == 1 || printable(b) {
		return ""
	}
	if b[0]|b[1]|b[2]|b[3]|b[4]|b[5] == 0 {
		return ""
	}
	return net.HardwareAddr(b).String()
}

// printable reports whether b is all ASCII letters and digits: text ("HostPC") where an agent should
// have put an address. A real MAC is that by chance about once in 5,000 devices; those lose only the MAC
// (the device then gets a protocol id), which is better than every such agent getting a bogus one.
func printable(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// text turns an OCTET STRING into a string: valid UTF-8 kept (trailing NULs and spaces trimmed), other
// bytes shown as hex. Values over maxValueLen are an error.
func text(p gosnmp.SnmpPDU) (string, error) {
	var s string
	switch v := p.Value.(type) {
	case nil:
		return "", nil
	case []byte:
		if len(v) > maxValueLen {
			return "", fmt.Errorf("value is %d bytes (limit %d)", len(v), maxValueLen)
		}
		if utf8.Valid(v) {
			s = string(v)
		} else {
			s = fmt.Sprintf("%x", v)
		}
	case string:
		if len(v) > maxValueLen {
			return "", fmt.Errorf("value is %d bytes (limit %d)", len(v), maxValueLen)
		}
		s = v
	default:
		s = fmt.Sprint(v)
	}
	return strings.TrimRight(strings.TrimSpace(s), "\x00"), nil
}

// placeholders are values that contributors and vendors put where the real value is hidden or unset.
var placeholder = regexp.MustCompile(`(?i)^(<private>|unknown|n/?a|none|null|not (set|available|specified)|default|0+|x+|-+|\?+|serial ?number|to be filled by o\.e\.m\.)$`)

// usable returns s, or "" when s is a mask or placeholder rather than a value.
func usable(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || placeholder.MatchString(s) {
		return ""
	}
	return s
}

func oidValue(p gosnmp.SnmpPDU) string {
	if s, ok := p.Value.(string); ok && s != "" {
		return normOID(s)
	}
	return ""
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		m = normOID(m)
		dup := false
		for _, l := range list {
			if l == m {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, m)
		}
	}
	return list
}

var oidNames = map[string]string{
	oidSysDescr: "sysDescr", oidSysObjectID: "sysObjectID", oidSysName: "sysName", oidSysUpTime: "sysUpTime",
	oidPrtSerial: "prtGeneralSerialNumber", oidHrDeviceDescr1: "hrDeviceDescr", oidUpsMfr: "upsIdentManufacturer",
	oidUpsModel: "upsIdentModel", oidUpsSoftware: "upsIdentUPSSoftwareVersion",
}

func oidName(oid string) string {
	if n, ok := oidNames[oid]; ok {
		return n
	}
	return oid
}
