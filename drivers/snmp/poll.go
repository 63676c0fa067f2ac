package snmp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/gateway"
)

// Poll reads every point of a device in as few GETs as possible (all scalars in one request, up to 60
// per request), and converts each value to the point's type, scale and unit.
func (d *Driver) Poll(ctx context.Context, ep gateway.Endpoint, points []gateway.Point) ([]gateway.Reading, error) {
	g, err := d.group(ep.Credential)
	if err != nil {
		return nil, fmt.Errorf("snmp %s: %w", ep.Address, err)
	}
	cl, err := d.open(ctx, ep.Address, &g.Credentials, g.Timeout, g.Retries)
	if err != nil {
		return nil, err
	}
	defer cl.done()
	oids := make([]string, 0, len(points))
	for i := range points {
		if a := addrOf(&points[i]); a != nil && !a.Table {
			oids = appendNew(oids, a.OID)
			if a.DecimalsOID != "" {
				oids = appendNew(oids, a.DecimalsOID)
			}
		}
	}
	vals, err := cl.get(oids)
	if err != nil {
		return nil, describe(ep.Address, fmt.Sprintf("get %d oids", len(oids)), err)
	}
	// Every table column the points need, read together: several columns per GETBULK instead of a
	// walk per column (a UPS profile's line table was five walks, most of a poll's cost).
	var cols []string
	for i := range points {
		if a := addrOf(&points[i]); a != nil && a.Table {
			cols = appendNew(cols, a.OID)
			if a.WhereOID != "" {
				cols = appendNew(cols, a.WhereOID)
			}
			if a.DecimalsOID != "" {
				cols = appendNew(cols, a.DecimalsOID)
			}
		}
	}
	var table map[string][]gosnmp.SnmpPDU
	if len(cols) > 0 {
		if table, err = cl.columns(cols, maxTableRows); err != nil {
			return nil, describe(ep.Address, fmt.Sprintf("read %d table columns", len(cols)), err)
		}
	}
	out := make([]gateway.Reading, 0, len(points))
	for _, p := range points {
		a := addrOf(&p)
		switch {
		case a == nil:
		case a.Table:
			out = append(out, column(p, a, table)...)
		default:
			oid := normOID(a.OID)
			r := gateway.Reading{Name: p.Name, Unit: p.Unit, Source: oid}
			pdu, ok := vals[oid]
			switch {
			case !ok:
				r.Err = fmt.Errorf("%s (%s): no such object", p.Name, a.OID)
			default:
				r.Raw = rawText(pdu.Value)
				div, derr := divisor(a.DecimalsOID, vals[normOID(a.DecimalsOID)])
				if r.Value, err = convert(pdu.Type, pdu.Value, &p, div); err == nil {
					err = derr
				}
				if err != nil {
					r.Value, r.Err = gateway.Value{}, fmt.Errorf("%s (%s): %w", p.Name, a.OID, err)
				}
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// column turns a table point's column, read by columns, into one reading per row, named Name[INDEX].
// A point with a where condition or a decimals column joins those columns by row index.
func column(p gateway.Point, a *Addr, table map[string][]gosnmp.SnmpPDU) []gateway.Reading {
	byRow := func(col string) map[string]gosnmp.SnmpPDU {
		if col == "" {
			return nil
		}
		col = normOID(col)
		out := map[string]gosnmp.SnmpPDU{}
		for _, pdu := range table[col] {
			if idx, ok := strings.CutPrefix(normOID(pdu.Name), col+"."); ok {
				out[idx] = pdu
			}
		}
		return out
	}
	where := byRow(a.WhereOID)
	decimals := byRow(a.DecimalsOID)
	col := normOID(a.OID)
	var out []gateway.Reading
	for _, pdu := range table[col] {
		oid := normOID(pdu.Name)
		idx, ok := strings.CutPrefix(oid, col+".")
		if !ok {
			continue
		}
		if a.WhereOID != "" {
			w, ok := where[idx]
			if !ok || !slices.Contains(a.WhereIn, gosnmp.ToBigInt(w.Value).Int64()) {
				continue
			}
		}
		full := idx
		if a.RowSuffix != "" {
			if idx, ok = strings.CutSuffix(idx, "."+a.RowSuffix); !ok {
				continue
			}
		}
		r := gateway.Reading{Name: p.Name + "[" + idx + "]", Unit: p.Unit, Source: oid, Raw: rawText(pdu.Value)}
		var div float64 = 1
		var err error
		if a.DecimalsOID != "" {
			div, err = divisor(a.DecimalsOID, decimals[full])
		}
		if err == nil {
			r.Value, err = convert(pdu.Type, pdu.Value, &p, div)
		}
		if err != nil {
			r.Value, r.Err = gateway.Value{}, fmt.Errorf("%s (%s): %w", r.Name, oid, err)
		}
		out = append(out, r)
	}
	return out
}

// divisor is 10^d for the decimal digits d that the varbind holds (1 when the point has no decimals
// column). A missing or unreasonable count is an error for the reading, not a guess.
func divisor(oid string, pdu gosnmp.SnmpPDU) (float64, error) {
	if oid == "" {
		return 1, nil
	}
	if pdu.Value == nil {
		return 0, fmt.Errorf("no decimal digits at %s", oid)
	}
	d := gosnmp.ToBigInt(pdu.Value).Int64()
	if d < 0 || d > 9 {
		return 0, fmt.Errorf("%d decimal digits at %s", d, oid)
	}
	return math.Pow10(int(d)), nil
}

// ErrType is a value whose SNMP type does not fit the point's type.
var ErrType = errors.New("unexpected type")

// ErrAbsent is a raw value the profile says means "no value" (often -1, "not supported").
var ErrAbsent = errors.New("the device reports no value")

// Convert turns a raw SNMP value (as gosnmp decodes it) into a point's typed, scaled value.
func Convert(typ gosnmp.Asn1BER, raw any, p *gateway.Point) (gateway.Value, error) {
	return convert(typ, raw, p, 1)
}

// convert is Convert with the raw number divided by div first (a decimals column's 10^d).
func convert(typ gosnmp.Asn1BER, raw any, p *gateway.Point, div float64) (gateway.Value, error) {
	switch p.Type {
	case gateway.TypeBits:
		b, ok := raw.([]byte)
		if !ok {
			return gateway.Value{}, fmt.Errorf("%w: BITS must be an OCTET STRING", ErrType)
		}
		return gateway.String(bitNames(b, p.Bits)), nil
	case gateway.TypeString:
		s, err := text(gosnmp.SnmpPDU{Type: typ, Value: raw})
		return gateway.String(s), err
	case gateway.TypeMAC:
		m := macOf(gosnmp.SnmpPDU{Type: typ, Value: raw})
		if m == "" {
			return gateway.Value{}, fmt.Errorf("%w: not a MAC address", ErrType)
		}
		return gateway.String(m), nil
	case gateway.TypeIP:
		switch v := raw.(type) {
		case string:
			return gateway.String(v), nil
		case []byte:
			if len(v) == 4 || len(v) == 16 {
				return gateway.String(net.IP(v).String()), nil
			}
		}
		return gateway.Value{}, fmt.Errorf("%w: not an IP address", ErrType)
	case gateway.TypeOID:
		if s, ok := raw.(string); ok {
			return gateway.String(normOID(s)), nil
		}
		return gateway.Value{}, fmt.Errorf("%w: not an OID", ErrType)
	}
	n, err := number(typ, raw)
	if err != nil {
		return gateway.Value{}, err
	}
	if slices.Contains(p.Absent, n) {
		return gateway.Value{}, fmt.Errorf("%w (raw %v)", ErrAbsent, n)
	}
	switch p.Type {
	case gateway.TypeBool:
		// TruthValue: 1 true, 2 false. Anything else non-zero is true.
		return gateway.Bool(n == 1 || (n != 2 && n != 0)), nil
	case gateway.TypeEnum:
		if name, ok := p.Enum[int64(n)]; ok {
			return gateway.String(name), nil
		}
		return gateway.String("unknown(" + strconv.FormatInt(int64(n), 10) + ")"), nil
	case gateway.TypeTimeticks:
		n /= 100
	}
	n /= div
	if p.Scale != 0 {
		n *= p.Scale
	}
	n += p.Offset
	return gateway.Number(round(n)), nil
}

// number reads any numeric SNMP value; strings that hold a number ("23.5") are accepted, as many agents
// report measurements as DisplayString.
func number(typ gosnmp.Asn1BER, raw any) (float64, error) {
	switch v := raw.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		f, _ := new(big.Float).SetInt(gosnmp.ToBigInt(v)).Float64()
		return f, nil
	case float32:
		return float64(v), nil
	case float64:
		return v, nil
	case []byte:
		s := strings.TrimSpace(strings.TrimRight(string(v), "\x00"))
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
		return 0, fmt.Errorf("%w: %q is not a number", ErrType, truncate(s, 40))
	}
	return 0, fmt.Errorf("%w: %v is not a number", ErrType, typ)
}

// round drops float noise from scaling (0.1*235 = 23.500000000000004).
func round(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return f
	}
	return math.Round(f*1e9) / 1e9
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// group finds a target group by the credential reference a sighting stored. A twin restored from the
// state store after its group was removed from the configuration gets a clear error on every poll.
func (d *Driver) group(name string) (*Group, error) {
	if g, ok := d.groups[name]; ok {
		return g, nil
	}
	return nil, fmt.Errorf("no SNMP target group %q in the configuration (was it removed?)", name)
}

// rawText shows a value as the agent sent it: text when it is printable, else hex; capped.
func rawText(v any) string {
	if b, ok := v.([]byte); ok {
		if s, err := text(gosnmp.SnmpPDU{Value: b}); err == nil && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
			return truncate(s, 200)
		}
		return truncate(fmt.Sprintf("0x%x", b), 200)
	}
	return truncate(fmt.Sprint(v), 200)
}

// bitNames lists the set bits of a BITS value by name, in bit order, comma-separated ("" when none is
// set). Bit 0 is the most significant bit of the first octet (RFC 2578 7.1.4).
func bitNames(b []byte, names map[int64]string) string {
	var out []string
	for i, octet := range b {
		for j := 0; j < 8; j++ {
			if octet&(0x80>>j) == 0 {
				continue
			}
			n := int64(i*8 + j)
			if name, ok := names[n]; ok {
				out = append(out, name)
			} else {
				out = append(out, "bit"+strconv.FormatInt(n, 10))
			}
		}
	}
	return strings.Join(out, ",")
}
