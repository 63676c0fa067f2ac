package sim

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
)

// kindSpec is the fixed data of one device kind.
type kindSpec struct {
	name      string // "display"
	model     string // "DP55"
	modelName string // "ACME DisplayPro 55"
	firmware  string
	hwRev     string
	arc       uint32 // enterprise sub-arc: 99999.<arc>
	objectID  string // sysObjectID
	baseTemp  int    // tenths of °C
	ifSpeed   uint32
}

// kinds is read-only product data, indexed by kindDisplay etc.
var kinds = [...]kindSpec{
	{name: "display", model: "DP55", modelName: "ACME DisplayPro 55", firmware: "4.2.1", hwRev: "B2",
		arc: 1, objectID: ".1.3.6.1.4.1.99999.1.55", baseTemp: 385, ifSpeed: 100_000_000},
	{name: "projector", model: "BX4K", modelName: "ACME Beam 4K", firmware: "2.7.0", hwRev: "A1",
		arc: 2, objectID: ".1.3.6.1.4.1.99999.2.4", baseTemp: 452, ifSpeed: 100_000_000},
	{name: "ups", model: "PS1500", modelName: "ACME PowerSafe 1500", firmware: "1.9.3", hwRev: "C0",
		arc: 3, objectID: ".1.3.6.1.4.1.99999.3.15", baseTemp: 271, ifSpeed: 10_000_000},
}

const (
	kindDisplay = iota
	kindProjector
	kindUPS
)

// oid is a parsed object identifier.
type oid []uint32

func parseOID(s string) (oid, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return oid{}, nil
	}
	parts := strings.Split(s, ".")
	o := make(oid, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("oid %q: %w", s, err)
		}
		o[i] = uint32(v)
	}
	return o, nil
}

func mustOID(s string) oid {
	o, err := parseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

func (o oid) hasPrefix(p oid) bool {
	return len(o) >= len(p) && slices.Equal(o[:len(p)], p)
}

// entry is one object instance of a kind's MIB. get and set run with the
// device's lock held.
type entry struct {
	oid    oid
	name   string // dotted, leading dot, as gosnmp spells it
	object oid    // the object without its instance suffix
	typ    gosnmp.Asn1BER
	get    func(d *device, el time.Duration) any
	set    func(d *device, v any) gosnmp.SNMPError // nil: read-only
}

const (
	sysPrefix = ".1.3.6.1.2.1.1"
	ifPrefix  = ".1.3.6.1.2.1.2.2.1"
	entPrefix = ".1.3.6.1.2.1.47.1.1.1.1"
	upsPrefix = ".1.3.6.1.2.1.33.1"
)

// buildMIB returns the sorted object instances a device of kind k serves.
func buildMIB(k *kindSpec) []entry {
	var es []entry
	add := func(name string, instLen int, typ gosnmp.Asn1BER, get func(*device, time.Duration) any,
		set func(*device, any) gosnmp.SNMPError) {
		o := mustOID(name)
		es = append(es, entry{oid: o, name: name, object: o[:len(o)-instLen], typ: typ, get: get, set: set})
	}
	str := func(v string) func(*device, time.Duration) any {
		return func(*device, time.Duration) any { return v }
	}
	num := func(v int) func(*device, time.Duration) any {
		return func(*device, time.Duration) any { return v }
	}
	u32 := func(v uint32) func(*device, time.Duration) any {
		return func(*device, time.Duration) any { return v }
	}

	// system group
	add(sysPrefix+".1.0", 1, gosnmp.OctetString, func(d *device, _ time.Duration) any {
		if d.faultMode() == faultHuge {
			return hugeDescr(d.info.SysDescr)
		}
		return d.info.SysDescr
	}, nil)
	add(sysPrefix+".2.0", 1, gosnmp.ObjectIdentifier, str(k.objectID), nil)
	add(sysPrefix+".3.0", 1, gosnmp.TimeTicks, func(d *device, el time.Duration) any {
		if d.restarts > 0 {
			return uint32((el - d.restartedAt).Milliseconds() / 10)
		}
		return uint32((d.uptimeOffset + el).Milliseconds() / 10)
	}, nil)
	add(sysPrefix+".4.0", 1, gosnmp.OctetString, func(d *device, _ time.Duration) any { return d.sysContact },
		setString(func(d *device, v string) { d.sysContact = v }))
	add(sysPrefix+".5.0", 1, gosnmp.OctetString, func(d *device, _ time.Duration) any { return d.sysName },
		setString(func(d *device, v string) { d.sysName = v }))
	add(sysPrefix+".6.0", 1, gosnmp.OctetString, func(d *device, _ time.Duration) any { return d.sysLocation },
		setString(func(d *device, v string) { d.sysLocation = v }))
	add(sysPrefix+".7.0", 1, gosnmp.Integer, num(72), nil)

	// interfaces
	add(".1.3.6.1.2.1.2.1.0", 1, gosnmp.Integer, num(2), nil)
	for _, col := range []struct {
		col uint32
		typ gosnmp.Asn1BER
		lo  func(*device, time.Duration) any
		eth func(*device, time.Duration) any
	}{
		{1, gosnmp.Integer, num(1), num(2)},
		{2, gosnmp.OctetString, str("lo"), str("eth0")},
		{3, gosnmp.Integer, num(24), num(6)},
		{4, gosnmp.Integer, num(65536), num(1500)},
		{5, gosnmp.Gauge32, u32(10_000_000), u32(k.ifSpeed)},
		{6, gosnmp.OctetString, func(*device, time.Duration) any { return []byte{} },
			func(d *device, _ time.Duration) any { return d.mac[:] }},
		{7, gosnmp.Integer, num(1), num(1)},
		{8, gosnmp.Integer, num(1), num(1)},
		{10, gosnmp.Counter32, octets(0, 40), octets(1, 2600)},
		{16, gosnmp.Counter32, octets(2, 40), octets(3, 900)},
	} {
		add(fmt.Sprintf("%s.%d.1", ifPrefix, col.col), 1, col.typ, col.lo, nil)
		add(fmt.Sprintf("%s.%d.2", ifPrefix, col.col), 1, col.typ, col.eth, nil)
	}

	// ENTITY-MIB entPhysicalTable, row 1: the chassis
	add(entPrefix+".2.1", 1, gosnmp.OctetString, str(k.modelName), nil)
	add(entPrefix+".5.1", 1, gosnmp.Integer, num(3), nil)
	add(entPrefix+".7.1", 1, gosnmp.OctetString, str("Chassis"), nil)
	add(entPrefix+".8.1", 1, gosnmp.OctetString, str(k.hwRev), nil)
	add(entPrefix+".9.1", 1, gosnmp.OctetString, str(k.firmware), nil)
	add(entPrefix+".10.1", 1, gosnmp.OctetString, str(k.firmware), nil)
	add(entPrefix+".11.1", 1, gosnmp.OctetString, func(d *device, _ time.Duration) any { return d.info.Serial }, nil)
	add(entPrefix+".12.1", 1, gosnmp.OctetString, str(manufacturer), nil)
	add(entPrefix+".13.1", 1, gosnmp.OctetString, str(k.model), nil)

	// enterprise objects: .1.3.6.1.4.1.99999.<arc>.1.<n>.0
	ent := fmt.Sprintf(".1.3.6.1.4.1.99999.%d.1", k.arc)
	add(ent+".1.0", 1, gosnmp.Integer, func(d *device, el time.Duration) any { return d.temperature(el) }, nil)
	switch k.arc {
	case 1:
		add(ent+".2.0", 1, gosnmp.Integer, func(d *device, _ time.Duration) any { return d.power },
			setInt(1, 2, func(d *device, v int) { d.power = v }))
		add(ent+".3.0", 1, gosnmp.Integer, func(d *device, _ time.Duration) any { return d.input },
			setInt(1, 4, func(d *device, v int) { d.input = v }))
		add(ent+".4.0", 1, gosnmp.Integer, func(d *device, _ time.Duration) any { return d.backlight },
			setInt(0, 100, func(d *device, v int) { d.backlight = v }))
		add(ent+".9.0", 1, gosnmp.Integer, num(0), setInt(1, 1, (*device).restart))
	case 2:
		add(ent+".2.0", 1, gosnmp.Integer, func(d *device, _ time.Duration) any { return d.power },
			setInt(1, 2, func(d *device, v int) { d.power = v }))
		add(ent+".9.0", 1, gosnmp.Integer, num(0), setInt(1, 1, (*device).restart))
		add(ent+".5.0", 1, gosnmp.Gauge32, func(d *device, el time.Duration) any {
			// One lamp hour per real minute, so a demo sees it move.
			return d.lampBase + uint32(el/time.Minute)
		}, nil)
	case 3:
		// RFC 1628 UPS-MIB
		add(upsPrefix+".1.1.0", 1, gosnmp.OctetString, str(manufacturer), nil)
		add(upsPrefix+".1.2.0", 1, gosnmp.OctetString, str(k.model), nil)
		add(upsPrefix+".1.3.0", 1, gosnmp.OctetString, str(k.firmware), nil)
		add(upsPrefix+".1.4.0", 1, gosnmp.OctetString, str("edgegw-sim 1.0"), nil)
		add(upsPrefix+".1.5.0", 1, gosnmp.OctetString, func(d *device, _ time.Duration) any { return d.info.Hostname }, nil)
		add(upsPrefix+".2.1.0", 1, gosnmp.Integer, num(2), nil) // batteryNormal
		add(upsPrefix+".2.2.0", 1, gosnmp.Integer, func(d *device, el time.Duration) any { return d.secondsOnBattery(el) }, nil)
		add(upsPrefix+".2.3.0", 1, gosnmp.Integer, func(d *device, el time.Duration) any { return d.charge(el) * 45 / 100 }, nil)
		add(upsPrefix+".2.4.0", 1, gosnmp.Integer, func(d *device, el time.Duration) any { return d.charge(el) }, nil)
		add(upsPrefix+".2.5.0", 1, gosnmp.Integer, num(272), nil) // 0.1 V DC
		add(upsPrefix+".2.7.0", 1, gosnmp.Integer, func(d *device, el time.Duration) any { return d.temperature(el) / 10 }, nil)
		add(upsPrefix+".3.2.0", 1, gosnmp.Integer, num(1), nil)
		add(upsPrefix+".3.3.1.3.1", 1, gosnmp.Integer, num(230), nil)
		add(upsPrefix+".4.1.0", 1, gosnmp.Integer, func(d *device, _ time.Duration) any { // upsOutputSource
			if d.onBattery {
				return 5 // battery
			}
			return 3 // normal
		}, nil)
		add(upsPrefix+".4.2.0", 1, gosnmp.Integer, num(500), nil)
		add(upsPrefix+".4.3.0", 1, gosnmp.Integer, num(1), nil)
		add(upsPrefix+".4.4.1.2.1", 1, gosnmp.Integer, num(230), nil)
		add(upsPrefix+".4.4.1.5.1", 1, gosnmp.Integer, func(d *device, el time.Duration) any { return d.load(el) }, nil)
	}
	slices.SortFunc(es, func(a, b entry) int { return slices.Compare(a.oid, b.oid) })
	return es
}

const manufacturer = "ACME"

func hugeDescr(base string) string {
	var b strings.Builder
	b.Grow(60_000)
	for b.Len() < 60_000-len(base)-1 {
		b.WriteString(base)
		b.WriteByte(' ')
	}
	return b.String()
}

// octets returns a Counter32 that grows at rate bytes/s from a per-device
// base; which picks a different base per counter.
func octets(which int, rate uint64) func(*device, time.Duration) any {
	return func(d *device, el time.Duration) any {
		return uint32(d.counterBase[which] + rate*uint64(el/time.Second))
	}
}

func setString(apply func(*device, string)) func(*device, any) gosnmp.SNMPError {
	return func(d *device, v any) gosnmp.SNMPError {
		b, ok := v.([]byte)
		if !ok {
			return gosnmp.WrongType
		}
		if len(b) > 255 {
			return gosnmp.WrongLength
		}
		if d != nil {
			apply(d, string(b))
		}
		return gosnmp.NoError
	}
}

func setInt(lo, hi int, apply func(*device, int)) func(*device, any) gosnmp.SNMPError {
	return func(d *device, v any) gosnmp.SNMPError {
		n, ok := v.(int)
		if !ok {
			return gosnmp.WrongType
		}
		if n < lo || n > hi {
			return gosnmp.WrongValue
		}
		if d != nil {
			apply(d, n)
		}
		return gosnmp.NoError
	}
}

// temperature drifts ±2 °C around the kind's base over ten minutes; a
// display or projector in standby runs 4 °C cooler. Tenths of °C.
func (d *device) temperature(el time.Duration) int {
	t := kinds[d.kind].baseTemp + d.tempOffset
	if d.kind != kindUPS && d.power == 2 {
		t -= 40
	}
	return t + int(math.Round(20*math.Sin(2*math.Pi*el.Seconds()/600+d.phase)))
}

// charge is upsEstimatedChargeRemaining: 97..100 %.
func (d *device) charge(el time.Duration) int {
	return 100 - int(math.Round(1.5*(1+math.Sin(2*math.Pi*el.Seconds()/900+d.phase))))
}

// load is upsOutputPercentLoad: 25..35 %.
func (d *device) load(el time.Duration) int {
	return 30 + int(math.Round(5*math.Sin(2*math.Pi*el.Seconds()/300+d.phase)))
}

// lookup returns the index of the entry named exactly o, or -1.
func lookup(mib []entry, o oid) int {
	i, ok := slices.BinarySearchFunc(mib, o, func(e entry, t oid) int { return slices.Compare(e.oid, t) })
	if !ok {
		return -1
	}
	return i
}

// next returns the index of the first entry after o, or len(mib).
func next(mib []entry, o oid) int {
	i, ok := slices.BinarySearchFunc(mib, o, func(e entry, t oid) int { return slices.Compare(e.oid, t) })
	if ok {
		i++
	}
	return i
}

// knownObject reports whether o names an instance of an object the MIB has
// (noSuchInstance) rather than an unknown object (noSuchObject).
func knownObject(mib []entry, o oid) bool {
	for i := range mib {
		if o.hasPrefix(mib[i].object) {
			return true
		}
	}
	return false
}
