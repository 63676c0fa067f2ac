package snmp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/gateway"
)

var _ gateway.Writer = (*Driver)(nil)

// ErrNotWritable is a point the driver cannot write at all: no scalar OID, or a type no agent accepts
// in a SET (counters, timeticks).
var ErrNotWritable = errors.New("not writable")

// ErrNotRepresentable is a number the device cannot hold: after undoing the point's scale and offset it
// is not a whole number, or it is outside the range of the agent's type.
var ErrNotRepresentable = errors.New("not representable")

// Write sets one point of a device with an SNMP SET and reads it back.
//
// The value is checked against the point's type first: a value of the wrong kind, an enum name the
// profile does not know or a number that scale and offset do not map to a whole raw number fails
// before any packet is sent. Then the object is read once (GET) to learn the ASN.1 type the agent
// keeps it in, so a profile that says int where the agent has Gauge32 still writes what the agent
// expects (an object that cannot be read, such as a write-only trigger, is sent in the type the
// point's type implies). The SET goes out with the group's WriteCommunity (v1/v2c; the Community when
// it is empty) or its v3 user, and the object is read again: that reading, converted like a poll,
// is readBack. It is the zero Value when the agent accepted the SET but does not let the object be
// read.
//
// An agent's error status is a *gateway.WriteError whose Reason is the status as the RFCs spell it
// ("noAccess", "notWritable", "wrongValue", "wrongLength", ...). No answer is a *TimeoutError, never a
// WriteError: the device may or may not have applied the value.
func (d *Driver) Write(ctx context.Context, ep gateway.Endpoint, p gateway.Point, v gateway.Value) (gateway.Value, error) {
	want, err := encode(&p, v)
	if err != nil {
		return gateway.Value{}, fmt.Errorf("set %s: %w", p.Name, err)
	}
	g, err := d.group(ep.Credential)
	if err != nil {
		return gateway.Value{}, fmt.Errorf("snmp %s: %w", ep.Address, err)
	}
	creds := g.Credentials
	if creds.Version != V3 && creds.WriteCommunity != "" {
		creds.Community = creds.WriteCommunity
	}
	cl, err := d.open(ctx, ep.Address, &creds, g.Timeout, g.Retries)
	if err != nil {
		return gateway.Value{}, err
	}
	defer cl.done()

	oid := normOID(addrOf(&p).OID) // encode checked there is one
	what := "set " + p.Name + " (" + oid + ")"
	cur, err := cl.get([]string{oid})
	if err != nil {
		return gateway.Value{}, describe(ep.Address, what+": read the current value (nothing was set)", err)
	}
	typ := want.def
	if pdu, ok := cur[oid]; ok {
		typ = pdu.Type
	}
	pdu, err := want.as(typ)
	if err != nil {
		return gateway.Value{}, fmt.Errorf("snmp %s: %s: %w", ep.Address, what, err)
	}
	pdu.Name = oid
	res, err := cl.s.g.Set([]gosnmp.SnmpPDU{pdu})
	if err != nil {
		err = describe(ep.Address, what, err)
		if te := (*TimeoutError)(nil); errors.As(err, &te) {
			return gateway.Value{}, fmt.Errorf("%w (the device may or may not have applied it)", err)
		}
		return gateway.Value{}, err
	}
	if res.Error != gosnmp.NoError {
		return gateway.Value{}, &gateway.WriteError{Point: p.Name, Reason: statusName(res.Error), Hint: writeHints[statusName(res.Error)]}
	}

	back, err := cl.get([]string{oid})
	if err != nil {
		return gateway.Value{}, fmt.Errorf("%w: %w", gateway.ErrUnconfirmed, describe(ep.Address, what, err))
	}
	got, ok := back[oid]
	if !ok {
		return gateway.Value{}, nil // write-only object
	}
	rb, err := Convert(got.Type, got.Value, &p)
	if err != nil {
		return gateway.Value{}, fmt.Errorf("snmp %s: %s: the device accepted it, but its value read back is unusable: %w", ep.Address, what, err)
	}
	return rb, nil
}

// statusName spells an SNMP error status as the RFCs do ("noAccess", "wrongLength").
func statusName(e gosnmp.SNMPError) string {
	s := e.String()
	if strings.HasPrefix(s, "SNMPError(") {
		return "error status " + strconv.Itoa(int(e))
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// wire is a point's value ready to be sent, before the agent's ASN.1 type is known.
type wire struct {
	typ gateway.ValueType
	def gosnmp.Asn1BER // the type to send when the agent does not tell
	// Numbers (int, uint, float, enum, bool) are raw: scale and offset undone.
	num      float64
	isNum    bool
	integral bool
	octets   []byte // string, mac, ip
	oid      string
}

// encode checks v against p's type and turns it into the raw value the device holds. It sends nothing.
func encode(p *gateway.Point, v gateway.Value) (wire, error) {
	w := wire{typ: p.Type}
	if a := addrOf(p); a == nil || a.OID == "" || a.Table {
		return w, fmt.Errorf("%w: the point has no scalar OID", ErrNotWritable)
	}
	kindErr := func(want string) error {
		return fmt.Errorf("%w: a %s point needs %s, not %s", ErrType, p.Type, want, describeValue(v))
	}
	switch p.Type {
	case gateway.TypeString:
		if v.Kind != gateway.KindString {
			return w, kindErr("a string")
		}
		w.octets, w.def = []byte(v.Str), gosnmp.OctetString
	case gateway.TypeMAC:
		if v.Kind != gateway.KindString {
			return w, kindErr("a MAC address")
		}
		hw, err := net.ParseMAC(strings.TrimSpace(v.Str))
		if err != nil || len(hw) != 6 {
			return w, fmt.Errorf("%w: %q is not a MAC address", ErrType, truncate(v.Str, 40))
		}
		w.octets, w.def = hw, gosnmp.OctetString
	case gateway.TypeIP:
		if v.Kind != gateway.KindString {
			return w, kindErr("an IP address")
		}
		a, err := netip.ParseAddr(strings.TrimSpace(v.Str))
		if err != nil || a.Zone() != "" {
			return w, fmt.Errorf("%w: %q is not an IP address", ErrType, truncate(v.Str, 40))
		}
		a = a.Unmap()
		w.octets, w.def = a.AsSlice(), gosnmp.IPAddress
		if a.Is6() {
			w.def = gosnmp.OctetString
		}
	case gateway.TypeOID:
		if v.Kind != gateway.KindString {
			return w, kindErr("an OID")
		}
		o := normOID(strings.TrimSpace(v.Str))
		if !validOID(o) {
			return w, fmt.Errorf("%w: %q is not an OID", ErrType, truncate(v.Str, 40))
		}
		w.oid, w.def = o, gosnmp.ObjectIdentifier
	case gateway.TypeBool:
		if v.Kind != gateway.KindBool {
			return w, kindErr("true or false")
		}
		w.num, w.isNum, w.integral, w.def = 2, true, true, gosnmp.Integer // TruthValue: 1 true, 2 false
		if v.Bool {
			w.num = 1
		}
	case gateway.TypeEnum:
		n, err := enumRaw(p, v)
		if err != nil {
			return w, err
		}
		w.num, w.isNum, w.integral, w.def = float64(n), true, true, gosnmp.Integer
	case gateway.TypeInt, gateway.TypeUint, gateway.TypeFloat:
		if v.Kind != gateway.KindNumber {
			return w, kindErr("a number")
		}
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return w, fmt.Errorf("%w: %v", ErrNotRepresentable, v.Num)
		}
		scale := p.Scale
		if scale == 0 {
			scale = 1
		}
		raw := (v.Num - p.Offset) / scale
		r := math.Round(raw)
		w.isNum, w.num, w.integral = true, raw, math.Abs(raw-r) <= 1e-6*math.Max(1, math.Abs(raw))
		if w.integral {
			w.num = r
		}
		switch {
		case p.Type != gateway.TypeFloat && !w.integral:
			return w, fmt.Errorf("%w: %v is not a whole number of steps of %v from %v (raw %v)", ErrNotRepresentable,
				v.Num, scale, p.Offset, raw)
		case p.Type == gateway.TypeUint:
			w.def = gosnmp.Gauge32
		case w.integral:
			w.def = gosnmp.Integer
		default:
			w.def = gosnmp.OctetString // a float the device keeps as text
		}
	case gateway.TypeCounter, gateway.TypeTimeticks:
		return w, fmt.Errorf("%w: %s points are read-only", ErrNotWritable, p.Type)
	default:
		return w, fmt.Errorf("%w: unknown point type %q", ErrNotWritable, p.Type)
	}
	return w, nil
}

// enumRaw maps an enum value back to its integer: a name from p.Enum, or a number (a Number or a
// numeric string) that p.Enum knows (any integer when p.Enum is empty).
func enumRaw(p *gateway.Point, v gateway.Value) (int64, error) {
	var n int64
	switch v.Kind {
	case gateway.KindString:
		s := strings.TrimSpace(v.Str)
		for k, name := range p.Enum {
			if name == s {
				return k, nil
			}
		}
		for k, name := range p.Enum {
			if strings.EqualFold(name, s) {
				return k, nil
			}
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is none of %s", ErrType, truncate(v.Str, 40), enumNames(p))
		}
		n = i
	case gateway.KindNumber:
		if v.Num != math.Trunc(v.Num) || math.Abs(v.Num) > 1<<53 {
			return 0, fmt.Errorf("%w: %v is not an integer", ErrType, v.Num)
		}
		n = int64(v.Num)
	default:
		return 0, fmt.Errorf("%w: an enum point needs a name or a number, not %s", ErrType, describeValue(v))
	}
	if _, ok := p.Enum[n]; !ok && len(p.Enum) > 0 {
		return 0, fmt.Errorf("%w: %d is none of %s", ErrType, n, enumNames(p))
	}
	return n, nil
}

func enumNames(p *gateway.Point) string {
	names := make([]string, 0, len(p.Enum))
	for k, name := range p.Enum {
		names = append(names, name+"("+strconv.FormatInt(k, 10)+")")
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func describeValue(v gateway.Value) string {
	switch v.Kind {
	case gateway.KindNumber:
		return "the number " + v.String()
	case gateway.KindString:
		return "the string " + strconv.Quote(truncate(v.Str, 40))
	case gateway.KindBool:
		return "the boolean " + v.String()
	}
	return "no value"
}

func validOID(s string) bool {
	arcs := strings.Split(strings.TrimPrefix(s, "."), ".")
	if len(arcs) < 2 {
		return false
	}
	for _, a := range arcs {
		if _, err := strconv.ParseUint(a, 10, 32); err != nil {
			return false
		}
	}
	return true
}

// as makes the varbind for an agent that keeps the object as typ.
func (w wire) as(typ gosnmp.Asn1BER) (gosnmp.SnmpPDU, error) {
	mismatch := fmt.Errorf("%w: the agent keeps this object as %v, which a %s point cannot be written as", ErrType, typ, w.typ)
	switch typ {
	case gosnmp.Integer:
		if !w.isNum {
			return gosnmp.SnmpPDU{}, mismatch
		}
		if !w.integral {
			return gosnmp.SnmpPDU{}, fmt.Errorf("%w: the agent keeps whole numbers (Integer), and %v is not one", ErrNotRepresentable, w.num)
		}
		if w.num < math.MinInt32 || w.num > math.MaxInt32 {
			return gosnmp.SnmpPDU{}, fmt.Errorf("%w: %v is outside the Integer32 range", ErrNotRepresentable, w.num)
		}
		return gosnmp.SnmpPDU{Type: typ, Value: int(w.num)}, nil
	case gosnmp.Gauge32, gosnmp.Uinteger32:
		if !w.isNum {
			return gosnmp.SnmpPDU{}, mismatch
		}
		if !w.integral {
			return gosnmp.SnmpPDU{}, fmt.Errorf("%w: the agent keeps whole numbers (%v), and %v is not one", ErrNotRepresentable, typ, w.num)
		}
		if w.num < 0 || w.num > math.MaxUint32 {
			return gosnmp.SnmpPDU{}, fmt.Errorf("%w: %v is outside the %v range 0..4294967295", ErrNotRepresentable, w.num, typ)
		}
		return gosnmp.SnmpPDU{Type: typ, Value: uint32(w.num)}, nil
	case gosnmp.OctetString:
		switch {
		case w.octets != nil || w.typ == gateway.TypeString:
			b := w.octets
			if b == nil {
				b = []byte{}
			}
			return gosnmp.SnmpPDU{Type: typ, Value: b}, nil
		case w.isNum && w.integral:
			return gosnmp.SnmpPDU{Type: typ, Value: []byte(strconv.FormatInt(int64(w.num), 10))}, nil
		case w.isNum:
			return gosnmp.SnmpPDU{Type: typ, Value: []byte(strconv.FormatFloat(w.num, 'f', -1, 64))}, nil
		}
	case gosnmp.IPAddress:
		if w.typ == gateway.TypeIP && len(w.octets) == 4 {
			return gosnmp.SnmpPDU{Type: typ, Value: w.octets}, nil
		}
		if w.typ == gateway.TypeIP {
			return gosnmp.SnmpPDU{}, fmt.Errorf("%w: the agent keeps an IPv4 address (IpAddress)", ErrNotRepresentable)
		}
	case gosnmp.ObjectIdentifier:
		if w.oid != "" {
			return gosnmp.SnmpPDU{Type: typ, Value: w.oid}, nil
		}
	case gosnmp.Counter32, gosnmp.Counter64, gosnmp.TimeTicks:
		return gosnmp.SnmpPDU{}, fmt.Errorf("%w: the agent keeps this object as %v, which is read-only", ErrNotWritable, typ)
	}
	return gosnmp.SnmpPDU{}, mismatch
}

// writeHints say what usually causes an agent to refuse a SET, for the people who read the error.
var writeHints = map[string]string{
	"noAccess":           " (read-only community?)",
	"authorizationError": " (the user may not write it?)",
	"notWritable":        " (read-only object)",
	"readOnly":           " (read-only object)",
	"noCreation":         " (no such object)",
	"noSuchName":         " (no such object, or a read-only community)",
	"noSuchObject":       " (no such object)",
	"wrongLength":        " (too long or too short)",
	"wrongValue":         " (value out of range)",
	"badValue":           " (value out of range or of the wrong type)",
}
