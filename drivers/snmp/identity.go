package snmp

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/drivers/snmp/enterprise"
	"github.com/edgegw/edgegw/gateway"
)

// Standard OIDs read at discovery.
const (
	oidSysDescr    = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID = ".1.3.6.1.2.1.1.2.0"
	oidSysUpTime   = ".1.3.6.1.2.1.1.3.0"
	oidSysName     = ".1.3.6.1.2.1.1.5.0"
	oidSysServices = ".1.3.6.1.2.1.1.7.0"

	oidIfType       = ".1.3.6.1.2.1.2.2.1.3"
	oidIfPhysAddr   = ".1.3.6.1.2.1.2.2.1.6"
	oidEntPhysClass = ".1.3.6.1.2.1.47.1.1.1.1.5"
	oidEntPhysSer   = ".1.3.6.1.2.1.47.1.1.1.1.11"
	entPhysPrefix   = ".1.3.6.1.2.1.47.1.1.1.1."

	oidPrtSerial      = ".1.3.6.1.2.1.43.5.1.1.17.1"
	oidHrDeviceType1  = ".1.3.6.1.2.1.25.3.2.1.2.1"
	oidHrDeviceDescr1 = ".1.3.6.1.2.1.25.3.2.1.3.1"
	hrDevicePrinter   = ".1.3.6.1.2.1.25.3.1.5"
	oidUpsMfr         = ".1.3.6.1.2.1.33.1.1.1.0"
	oidUpsModel       = ".1.3.6.1.2.1.33.1.1.2.0"
	oidUpsSoftware    = ".1.3.6.1.2.1.33.1.1.3.0"

	// LLDP-MIB's local chassis id (subtype 4 is a MAC) and BRIDGE-MIB's base address: where switches
	// and access points say their own (label) MAC. LLDP-MIB lives under iso.std, outside .1.3.
	oidLldpChassisSubtype = ".1.0.8802.1.1.2.1.3.1.0"
	oidLldpChassisID      = ".1.0.8802.1.1.2.1.3.2.0"
	oidBridgeAddress      = ".1.3.6.1.2.1.17.1.1.0"
	oidBridgeNumPorts     = ".1.3.6.1.2.1.17.1.2.0"

	// Network facts: IP-MIB's IPv4 address table (indexed by the address, the mask as value) and its
	// newer address table (ipAddressPrefix points to a prefix row whose last arc is the length);
	// the default route's next hop in RFC 1213's ipRouteTable, IP-FORWARD-MIB's ipCidrRouteTable
	// and inetCidrRouteTable.
	oidIPAdEntNetMask   = ".1.3.6.1.2.1.4.20.1.3"
	oidIPAddressPrefix  = ".1.3.6.1.2.1.4.34.1.5"
	oidIPRouteNextHop0  = ".1.3.6.1.2.1.4.21.1.7.0.0.0.0"
	oidIPCidrNextHop0   = ".1.3.6.1.2.1.4.24.4.1.4.0.0.0.0.0.0.0.0"
	oidInetCidrNextHop0 = ".1.3.6.1.2.1.4.24.7.1.7.1.4.0.0.0.0.0"
)

// entPhysicalTable columns and classes.
const (
	entDescr       = 2
	entHardwareRev = 8
	entFirmwareRev = 9
	entSoftwareRev = 10
	entSerialNum   = 11
	entMfgName     = 12
	entModelName   = 13

	entClassModule  = 9
	entClassChassis = 3
	entClassStack   = 11
)

// maxEntityRows bounds the ENTITY-MIB rows whose columns are read: the chassis of a stack of eight,
// say. The rest of a big chassis (line cards, transceivers) never identifies the device.
const maxEntityRows = 8

var oidNames = map[string]string{
	oidSysDescr: "sysDescr", oidSysObjectID: "sysObjectID", oidSysName: "sysName", oidSysUpTime: "sysUpTime",
	oidPrtSerial: "Printer-MIB prtGeneralSerialNumber.1", oidHrDeviceDescr1: "HOST-RESOURCES-MIB hrDeviceDescr.1",
	oidUpsMfr: "UPS-MIB upsIdentManufacturer", oidUpsModel: "UPS-MIB upsIdentModel",
	oidUpsSoftware: "UPS-MIB upsIdentUPSSoftwareVersion", oidLldpChassisID: "LLDP-MIB lldpLocChassisId",
	oidBridgeAddress: "BRIDGE-MIB dot1dBaseBridgeAddress",
}

var entColumnNames = map[int]string{
	entDescr: "entPhysicalDescr", entHardwareRev: "entPhysicalHardwareRev", entFirmwareRev: "entPhysicalFirmwareRev",
	entSoftwareRev: "entPhysicalSoftwareRev", entSerialNum: "entPhysicalSerialNum", entMfgName: "entPhysicalMfgName",
	entModelName: "entPhysicalModelName",
}

func oidName(oid string) string {
	if n, ok := oidNames[oid]; ok {
		return n
	}
	if strings.HasPrefix(oid, entPhysPrefix) {
		col, row, _ := strings.Cut(strings.TrimPrefix(oid, entPhysPrefix), ".")
		if n, err := strconv.Atoi(col); err == nil && entColumnNames[n] != "" {
			return "ENTITY-MIB " + entColumnNames[n] + "." + row
		}
	}
	return oid
}

// agentOnly are enterprises whose numbers name the SNMP agent software or a chip's reference design
// that many makers ship under their own brand, not the device's maker: net-snmp (and UCD-SNMP before
// it), Microsoft's Windows agent, Broadcom's switch SDK.
var agentOnly = map[uint32]bool{8072: true, 2021: true, 311: true, 4413: true}

// fields are the identity fields, in the order they are settled.
var fields = []string{"serial", "model", "manufacturer", "firmware", "hardware", "mac"}

// finding is one candidate value for an identity field, and where it came from.
type finding struct {
	value, source string
	oid           string // the object it was read from as it is, when it was (for the serial's quick re-read)
}

// identifier collects one agent's identity: what it read so far, and the record of where it looked.
type identifier struct {
	d     *Driver
	cl    *client
	vals  map[string]gosnmp.SnmpPDU // by OID: every GET so far
	next  map[string]gosnmp.SnmpPDU // by subtree: the first object under it
	id    *gateway.Identity
	tried []gateway.IdentityAttempt
	// missed lists, per field, the standard places that gave nothing, for the record when no source
	// at all gives the field.
	missed map[string][]gateway.IdentityAttempt
	bad    []error
	// serialOID is the object the serial was read from as it is (no regex, map or joining), if so.
	serialOID string
}

// Identify reads one agent's identity. Each field is settled in falling order of trust: the matched
// profile's own sources (vendor knowledge), then the standard MIBs (ENTITY-MIB chassis, Printer-MIB,
// UPS-MIB, HOST-RESOURCES-MIB, IF-MIB, LLDP-MIB, BRIDGE-MIB), then the profile's fallback rules
// (generic sysDescr grammars), then the profile's manufacturer and the sysObjectID's enterprise.
func (d *Driver) Identify(ctx context.Context, addr string, c *Credentials, timeout time.Duration, retries int) (gateway.Sighting, error) {
	cl, err := d.open(ctx, addr, c, timeout, retries)
	if err != nil {
		return gateway.Sighting{}, err
	}
	defer cl.done()

	s := gateway.Sighting{Protocol: Protocol, Address: addr, Credential: c.Name}
	// One GET for every scalar we may want; an agent that lacks some answers noSuchObject for those.
	oids := []string{oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysName, oidSysServices,
		oidPrtSerial, oidHrDeviceType1, oidHrDeviceDescr1, oidUpsMfr, oidUpsModel, oidUpsSoftware,
		oidLldpChassisSubtype, oidLldpChassisID, oidBridgeAddress, oidBridgeNumPorts, oidIPRouteNextHop0}
	oids = appendNew(oids, d.match.probe...)
	vals, err := cl.get(oids)
	if err != nil {
		return s, describe(addr, "read system group", err)
	}
	if _, ok := vals[oidSysObjectID]; !ok {
		if _, ok := vals[oidSysDescr]; !ok {
			return s, fmt.Errorf("snmp %s: agent answered but has no system group (sysDescr, sysObjectID)", addr)
		}
	}
	x := &identifier{d: d, cl: cl, vals: vals, next: map[string]gosnmp.SnmpPDU{}, id: &s.Identity,
		missed: map[string][]gateway.IdentityAttempt{}}
	id := &s.Identity
	id.SysDescr = x.str(oidSysDescr)
	id.SysObjectID = oidValue(vals[oidSysObjectID])
	id.Hostname = usable(x.str(oidSysName))
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		id.IP = ap.Addr().String()
	}

	std, err := x.standard()
	if err != nil {
		return s, err
	}

	present := func(oid string) bool { _, ok := vals[normOID(oid)]; return ok }
	p := d.match.match(*id, present)
	var rules *Identity
	if p != nil {
		s.Profile = p.Name
		rules, _ = p.Identity.(*Identity)
		if err := x.prefetch(rules); err != nil {
			return s, describe(addr, "read identity OIDs of profile "+p.Name, err)
		}
	}
	for _, f := range fields {
		v := ""
		if p != nil {
			v = x.chain(f, "profile "+p.Name, rules.Chain(f))
		}
		if v == "" {
			v = x.pick(f, std[f])
		}
		if v == "" {
			x.tried = append(x.tried, x.missed[f]...)
		}
		if v == "" && p != nil {
			v = x.chain(f, "profile "+p.Name+" fallback", rules.fallback(f))
		}
		if v == "" && f == "manufacturer" && p != nil && p.Manufacturer != "" {
			v = x.pick(f, []finding{{value: p.Manufacturer, source: "profile " + p.Name + " manufacturer"}})
		}
		if n, ok := enterprise.Number(id.SysObjectID); ok && v == "" && f == "manufacturer" && !agentOnly[n] {
			src := "IANA enterprise " + strconv.FormatUint(uint64(n), 10) + " (sysObjectID)"
			if name := enterprise.Name(n); name != "" {
				v = x.pick(f, []finding{{value: name, source: src}})
			} else {
				x.tried = append(x.tried, gateway.IdentityAttempt{Field: f, Source: src, Note: "not in the registry"})
			}
		}
		switch f {
		case "serial":
			id.Serial = v
		case "model":
			id.Model = v
		case "manufacturer":
			id.Manufacturer = v
		case "firmware":
			id.Firmware = v
		case "hardware":
			id.Hardware = v
		case "mac":
			id.MAC = v
		}
	}
	id.Kind = x.kind(p)
	if id.Network, err = x.cl.network(id.IP, x.vals); err != nil {
		return s, describe(addr, "read network settings", err)
	}
	s.Tried = x.tried
	if len(x.bad) > 0 {
		return s, fmt.Errorf("snmp %s: bad identity values: %w", addr, errors.Join(x.bad...))
	}
	s.Seen = time.Now()
	d.rememberSerial(c.Name, addr, id.Serial, x.serialOID)
	return s, nil
}

// str is the text of an OID already read; a value over the size limit is recorded as bad.
func (x *identifier) str(oid string) string {
	v, err := text(x.vals[oid])
	if err != nil {
		x.bad = append(x.bad, fmt.Errorf("%s: %w", oidName(oid), err))
	}
	return v
}

// standard reads what the standard MIBs say, as candidates per field in falling order of trust.
func (x *identifier) standard() (map[string][]finding, error) {
	std := map[string][]finding{}
	add := func(field, oid string) {
		raw := x.str(oid)
		if v := usable(raw); v != "" {
			std[field] = append(std[field], finding{v, oidName(oid), oid})
			return
		}
		note := "no such object"
		if _, ok := x.vals[oid]; ok {
			note = fmt.Sprintf("%q is a placeholder", clip(raw))
		}
		x.missed[field] = append(x.missed[field], gateway.IdentityAttempt{Field: field, Source: oidName(oid), Note: note})
	}
	rows, chassis, err := x.cl.entityRows()
	if isTimeout(err) {
		return nil, describe(x.cl.addr, "walk ENTITY-MIB", err)
	}
	if err != nil {
		x.d.log.Debug("entity-mib walk failed", "target", x.cl.addr, "err", err)
	}
	if len(rows) == 0 {
		for _, f := range []string{"serial", "model", "firmware"} {
			x.missed[f] = append(x.missed[f], gateway.IdentityAttempt{Field: f, Source: "ENTITY-MIB", Note: "no chassis, stack or serial row"})
		}
	}
	if len(rows) > 0 {
		var cols []string
		for _, r := range rows {
			for col := range entColumnNames {
				cols = append(cols, entPhysPrefix+strconv.Itoa(col)+"."+r)
			}
		}
		more, err := x.cl.get(cols)
		if err != nil {
			return nil, describe(x.cl.addr, "read ENTITY-MIB chassis", err)
		}
		for k, v := range more {
			x.vals[k] = v
		}
		ent := func(field string, col int) {
			for _, r := range rows {
				add(field, entPhysPrefix+strconv.Itoa(col)+"."+r)
			}
		}
		ent("serial", entSerialNum)
		ent("model", entModelName)
		ent("manufacturer", entMfgName)
		// The software a chassis runs is what people call its firmware (IOS, JunOS, AOS-CX); a separate
		// firmware revision is the boot ROM's, for devices that name no software.
		ent("firmware", entSoftwareRev)
		ent("firmware", entFirmwareRev)
		ent("hardware", entHardwareRev)
	}
	add("serial", oidPrtSerial)
	if oidValue(x.vals[oidHrDeviceType1]) == hrDevicePrinter {
		add("model", oidHrDeviceDescr1)
	}
	add("manufacturer", oidUpsMfr)
	add("model", oidUpsModel)
	add("firmware", oidUpsSoftware)
	for _, r := range rows {
		// A chassis that names no model often describes itself ("Juniper QFX5100-48S-6Q Switch"); other
		// rows describe only themselves ("Stack", "motherboard").
		if chassis {
			add("model", entPhysPrefix+strconv.Itoa(entDescr)+"."+r)
		}
	}

	macs, err := x.cl.interfaceMACs()
	if isTimeout(err) {
		return nil, describe(x.cl.addr, "walk ifTable", err)
	}
	base := ""
	if gosnmp.ToBigInt(x.vals[oidLldpChassisSubtype].Value).Int64() == 4 {
		base = macOf(x.vals[oidLldpChassisID])
		if base != "" {
			std["macBase"] = append(std["macBase"], finding{value: base, source: oidName(oidLldpChassisID)})
		}
	}
	if m := macOf(x.vals[oidBridgeAddress]); m != "" {
		std["macBase"] = append(std["macBase"], finding{value: m, source: oidName(oidBridgeAddress)})
		if base == "" {
			base = m
		}
	}
	// The label MAC of a switch is its base address, which is usually also one of its interfaces' (the
	// management VLAN's). A base address that no interface has is still the device's own when there is
	// no interface MAC at all.
	var ifs []finding
	for _, m := range macs {
		ifs = append(ifs, finding{value: m.mac, source: "IF-MIB ifPhysAddress." + strconv.Itoa(m.idx)})
	}
	for _, b := range std["macBase"] {
		for _, m := range macs {
			if m.mac == b.value {
				std["mac"] = append(std["mac"], b)
				break
			}
		}
	}
	if len(ifs) > 0 {
		std["mac"] = append(std["mac"], ifs[0])
	}
	std["mac"] = append(std["mac"], std["macBase"]...)
	if len(std["mac"]) == 0 {
		x.missed["mac"] = append(x.missed["mac"], gateway.IdentityAttempt{Field: "mac",
			Source: "IF-MIB ifPhysAddress, LLDP-MIB lldpLocChassisId, BRIDGE-MIB dot1dBaseBridgeAddress", Note: "no unicast six-octet address"})
	}
	return std, nil
}

// pick takes the first candidate, recording each.
func (x *identifier) pick(field string, cands []finding) string {
	for i, c := range cands {
		if field == "mac" {
			c.value = canonicalMAC(c.value)
		}
		if c.value != "" {
			if field == "serial" {
				x.serialOID = c.oid
			}
			x.tried = append(x.tried, gateway.IdentityAttempt{Field: field, Source: c.source, Value: c.value, Used: true})
			for _, rest := range cands[i+1:] {
				x.tried = append(x.tried, gateway.IdentityAttempt{Field: field, Source: rest.source, Value: rest.value, Note: "not needed"})
			}
			return c.value
		}
	}
	return ""
}

// prefetch reads, in one GET and a GETNEXT per subtree, every OID the profile's identity sources
// name that was not read yet.
func (x *identifier) prefetch(rules *Identity) error {
	var want, subtrees []string
	visit := func(srcs []IdentitySource) {
		for _, s := range srcs {
			if s.Suffix != "" && x.id.SysObjectID != "" {
				s.OID = x.id.SysObjectID + s.Suffix
			}
			switch {
			case s.OID != "" && s.Next:
				subtrees = appendNew(subtrees, s.OID)
			case s.OID != "":
				if _, ok := x.vals[s.OID]; !ok {
					want = appendNew(want, s.OID)
				}
			}
			for _, o := range s.OIDs {
				if _, ok := x.vals[o]; !ok {
					want = appendNew(want, o)
				}
			}
		}
	}
	for _, f := range fields {
		visit(rules.Chain(f))
		visit(rules.fallback(f))
	}
	if len(want) > 0 {
		got, err := x.cl.get(want)
		if err != nil {
			return err
		}
		for k, v := range got {
			x.vals[k] = v
		}
	}
	for _, root := range subtrees {
		pdu, ok, err := x.cl.first(root)
		if err != nil {
			return err
		}
		if ok {
			x.next[root] = pdu
		}
	}
	return nil
}

// chain tries sources in order and returns the first usable value.
func (x *identifier) chain(field, who string, srcs []IdentitySource) string {
	for _, s := range srcs {
		v, note := x.eval(field, s)
		a := gateway.IdentityAttempt{Field: field, Source: who + " " + s.String(), Value: v, Note: note}
		if v != "" {
			a.Used = true
			x.tried = append(x.tried, a)
			if field == "serial" && (s.OID != "" || s.Suffix != "") && !s.Next && s.Regex == "" && s.Map == nil && s.As == "" {
				x.serialOID = s.OID
				if s.Suffix != "" {
					x.serialOID = x.id.SysObjectID + s.Suffix
				}
			}
			return v
		}
		x.tried = append(x.tried, a)
	}
	return ""
}

// eval reads one source: the raw value, then regex, map, and the placeholder check. note says why
// there is no value.
func (x *identifier) eval(field string, s IdentitySource) (string, string) {
	as := s.As
	if field == "mac" && as == "" {
		as = "mac"
	}
	if s.Suffix != "" {
		if x.id.SysObjectID == "" {
			return "", "no sysObjectID"
		}
		s.OID = x.id.SysObjectID + s.Suffix
	}
	var v string
	switch {
	case s.SysDescr:
		v = x.id.SysDescr
	case s.SysObjectID:
		v = x.id.SysObjectID
	case s.OID != "" && s.Next:
		pdu, ok := x.next[s.OID]
		if !ok {
			return "", "nothing under it"
		}
		v = x.render(pdu, as)
	case s.OID != "":
		pdu, ok := x.vals[s.OID]
		if !ok {
			return "", "no such object"
		}
		v = x.render(pdu, as)
	case len(s.OIDs) > 0:
		var parts []string
		for _, o := range s.OIDs {
			if pdu, ok := x.vals[o]; ok {
				if p := usable(x.render(pdu, as)); p != "" {
					parts = append(parts, p)
				}
			}
		}
		join := s.Join
		if join == "" {
			join = " "
		}
		v = strings.Join(parts, join)
	}
	if v == "" {
		return "", "empty"
	}
	if s.Regex != "" {
		re, err := x.d.regexp(s.Regex)
		if err != nil { // the profile loader compiled it already
			return "", err.Error()
		}
		m := re.FindStringSubmatchIndex(v)
		if m == nil {
			return "", fmt.Sprintf("%q does not match", clip(v))
		}
		if s.Replace != "" {
			v = string(re.ExpandString(nil, s.Replace, v, m))
		} else if m[2] >= 0 {
			v = v[m[2]:m[3]]
		} else {
			v = ""
		}
	}
	if s.Map != nil {
		mapped, ok := s.Map[strings.TrimSpace(v)]
		if !ok && s.SysObjectID && s.Regex == "" {
			mapped, ok = longestPrefix(s.Map, v) // a product line's registration covers its models
		}
		if !ok {
			return "", fmt.Sprintf("%q is not in the map", clip(v))
		}
		v = mapped
	}
	if field == "mac" {
		if m := canonicalMAC(v); m != "" {
			return m, ""
		}
		return "", fmt.Sprintf("%q is not a MAC", clip(v))
	}
	if u := usable(v); u != "" {
		return u, ""
	}
	return "", fmt.Sprintf("%q is a placeholder", clip(v))
}

// render turns a varbind into text as the source asks.
func (x *identifier) render(pdu gosnmp.SnmpPDU, as string) string {
	switch as {
	case "mac":
		if m := macOf(pdu); m != "" {
			return m
		}
	case "hex":
		if b, ok := pdu.Value.([]byte); ok {
			return hex.EncodeToString(b)
		}
	}
	if pdu.Type == gosnmp.ObjectIdentifier {
		return oidValue(pdu)
	}
	v, err := text(pdu)
	if err != nil {
		x.bad = append(x.bad, fmt.Errorf("%s: %w", pdu.Name, err))
		return ""
	}
	return v
}

// kind is the device family: the matched profile's, or else what the standard MIBs tell.
func (x *identifier) kind(p *gateway.Profile) string {
	if p != nil && p.Kind != "" && p.Kind != "other" {
		return p.Kind
	}
	_, printer := x.vals[oidPrtSerial]
	_, ups := x.vals[oidUpsMfr]
	switch {
	case printer || oidValue(x.vals[oidHrDeviceType1]) == hrDevicePrinter:
		return "printer"
	case ups:
		return "ups"
	}
	// A bridge (BRIDGE-MIB: a base address, or four ports or more) whose agent does not deny working
	// at layer 2 (sysServices bit 2; many agents leave sysServices out).
	ports := gosnmp.ToBigInt(x.vals[oidBridgeNumPorts].Value).Int64()
	_, bridge := x.vals[oidBridgeAddress]
	svc, hasSvc := x.vals[oidSysServices]
	if (ports >= 4 || bridge) && (!hasSvc || gosnmp.ToBigInt(svc.Value).Int64()&2 != 0) {
		return "switch"
	}
	return "other"
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// canonicalMAC returns s as aa:bb:cc:dd:ee:ff when it is a usable unicast MAC written in any common
// form (colons, dashes, dots, or twelve bare hex digits), or "".
func canonicalMAC(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 12 {
		if _, err := hex.DecodeString(s); err == nil {
			s = s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
		}
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 || hw[0]&1 == 1 {
		return ""
	}
	if hw[0]|hw[1]|hw[2]|hw[3]|hw[4]|hw[5] == 0 {
		return ""
	}
	return hw.String()
}

// entityRows finds the ENTITY-MIB rows that describe the device as a whole: its chassis rows (every
// member of a stack has one); failing those, the stack rows; failing those, the first row with a
// serial number (agents such as net-snmp with override lines fill only some columns) or else the
// first module.
func (cl *client) entityRows() (rows []string, chassis bool, err error) {
	byClass := map[int64][]string{}
	err = cl.walk(oidEntPhysClass, maxTableRows, func(p gosnmp.SnmpPDU) {
		c := gosnmp.ToBigInt(p.Value).Int64()
		byClass[c] = append(byClass[c], strings.TrimPrefix(normOID(p.Name), oidEntPhysClass+"."))
	})
	if isTimeout(err) {
		return nil, false, err
	}
	for _, c := range []int64{entClassChassis, entClassStack} {
		if rows := byClass[c]; len(rows) > 0 {
			return rows[:min(len(rows), maxEntityRows)], c == entClassChassis, err
		}
	}
	idx := ""
	err2 := cl.walk(oidEntPhysSer, maxTableRows, func(p gosnmp.SnmpPDU) {
		if v, _ := text(p); idx == "" && usable(v) != "" {
			idx = strings.TrimPrefix(normOID(p.Name), oidEntPhysSer+".")
		}
	})
	if idx == "" && len(byClass[entClassModule]) > 0 {
		idx = byClass[entClassModule][0]
	}
	if idx == "" && len(byClass) == 0 {
		// Agents that fill the table without entPhysicalClass: the first row that describes anything.
		if p, ok, err3 := cl.first(entPhysPrefix + strconv.Itoa(entDescr)); err3 == nil && ok {
			idx = strings.TrimPrefix(normOID(p.Name), entPhysPrefix+strconv.Itoa(entDescr)+".")
		}
	}
	if idx == "" {
		return nil, false, errors.Join(err, err2)
	}
	return []string{idx}, false, errors.Join(err, err2)
}

// Interface types whose address is the device's own: ethernetCsmacd, fastEther, gigabitEthernet,
// ieee80211, and friends. Loopbacks, tunnels and virtual bridges often carry invented or shared MACs.
var realIfTypes = map[int64]bool{6: true, 7: true, 62: true, 69: true, 71: true, 117: true}

type ifMAC struct {
	idx  int
	real bool
	mac  string
}

// interfaceMACs returns the usable interface MACs, real interfaces first, each group by ifIndex.
func (cl *client) interfaceMACs() ([]ifMAC, error) {
	types := map[string]int64{}
	err := cl.walk(oidIfType, maxTableRows, func(p gosnmp.SnmpPDU) {
		types[strings.TrimPrefix(normOID(p.Name), oidIfType+".")] = gosnmp.ToBigInt(p.Value).Int64()
	})
	if isTimeout(err) {
		return nil, err
	}
	var cands []ifMAC
	err = cl.walk(oidIfPhysAddr, maxTableRows, func(p gosnmp.SnmpPDU) {
		key := strings.TrimPrefix(normOID(p.Name), oidIfPhysAddr+".")
		m := macOf(p)
		if m == "" {
			return
		}
		n, _ := strconv.Atoi(key)
		cands = append(cands, ifMAC{idx: n, real: realIfTypes[types[key]], mac: m})
	})
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].real != cands[j].real {
			return cands[i].real
		}
		return cands[i].idx < cands[j].idx
	})
	return cands, err
}

// first reads the first object under root with one GETNEXT; ok is false when there is none.
func (cl *client) first(root string) (gosnmp.SnmpPDU, bool, error) {
	res, err := cl.s.g.GetNext([]string{root})
	if err != nil {
		return gosnmp.SnmpPDU{}, false, err
	}
	if res.Error != gosnmp.NoError || len(res.Variables) == 0 {
		return gosnmp.SnmpPDU{}, false, nil
	}
	v := res.Variables[0]
	switch v.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
		return gosnmp.SnmpPDU{}, false, nil
	}
	if !strings.HasPrefix(normOID(v.Name)+".", root+".") {
		return gosnmp.SnmpPDU{}, false, nil
	}
	return v, true, nil
}

// regexp compiles an identity expression once per driver.
func (d *Driver) regexp(expr string) (*regexp.Regexp, error) {
	if re, ok := d.res.Load(expr); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	d.res.Store(expr, re)
	return re, nil
}

// network reads the device's own view of its addresses and default route. reached is the address the
// gateway talks to: its IPv4 row is preferred. A table the agent lacks is simply unknown; only a
// timeout is an error.
func (cl *client) network(reached string, vals map[string]gosnmp.SnmpPDU) (gateway.Network, error) {
	var n gateway.Network
	var first string
	err := cl.walk(oidIPAdEntNetMask, maxTableRows, func(p gosnmp.SnmpPDU) {
		a, err := netip.ParseAddr(strings.TrimPrefix(normOID(p.Name), oidIPAdEntNetMask+"."))
		mask := ipOf(p.Value)
		if err != nil || !a.Is4() || !mask.Is4() || a.IsLoopback() || a.IsUnspecified() || a.IsLinkLocalUnicast() {
			return
		}
		ones, _ := net.IPMask(mask.AsSlice()).Size()
		cidr := netip.PrefixFrom(a, ones).String()
		if a.String() == reached {
			n.IPv4 = cidr
		} else if first == "" {
			first = cidr
		}
	})
	if isTimeout(err) {
		return n, err
	}
	if n.IPv4 == "" {
		n.IPv4 = first
	}
	err = cl.walk(oidIPAddressPrefix, maxTableRows, func(p gosnmp.SnmpPDU) {
		if n.IPv6 != "" {
			return
		}
		// Index: addressType(2 = ipv6).16.<16 octets>; value: ...prefix row..., whose last arc is the length.
		arcs := strings.Split(strings.TrimPrefix(normOID(p.Name), oidIPAddressPrefix+"."), ".")
		if len(arcs) != 18 || arcs[0] != "2" || arcs[1] != "16" {
			return
		}
		var b [16]byte
		for i, a := range arcs[2:] {
			v, err := strconv.ParseUint(a, 10, 8)
			if err != nil {
				return
			}
			b[i] = byte(v)
		}
		addr := netip.AddrFrom16(b)
		ptr := strings.Split(oidValue(p), ".")
		bits, err := strconv.Atoi(ptr[len(ptr)-1])
		if !addr.IsGlobalUnicast() || err != nil || bits <= 0 || bits > 128 {
			return
		}
		n.IPv6 = netip.PrefixFrom(addr, bits).String()
	})
	if isTimeout(err) {
		return n, err
	}
	gw := ipOf(vals[oidIPRouteNextHop0].Value)
	for _, root := range []string{oidIPCidrNextHop0, oidInetCidrNextHop0} {
		if gw.IsValid() && !gw.IsUnspecified() {
			break
		}
		p, ok, err := cl.first(root)
		if isTimeout(err) {
			return n, err
		}
		if ok {
			gw = ipOf(p.Value)
		}
	}
	if gw.IsValid() && !gw.IsUnspecified() {
		n.DefaultGateway = gw.String()
	}
	return n, nil
}

// ipOf reads an IpAddress varbind (gosnmp gives a dotted string) or an InetAddress (4 or 16 octets).
func ipOf(v any) netip.Addr {
	switch x := v.(type) {
	case string:
		a, _ := netip.ParseAddr(x)
		return a
	case []byte:
		if a, ok := netip.AddrFromSlice(x); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// longestPrefix finds the map key that is the longest whole-arc prefix of oid.
func longestPrefix(m map[string]string, oid string) (string, bool) {
	best, found := "", false
	for k := range m {
		if len(k) > len(best) && hasArcPrefix(strings.TrimPrefix(oid, "."), strings.TrimPrefix(k, ".")) {
			best, found = k, true
		}
	}
	return m[best], found
}
