package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgegw/edgegw/gateway"
)

// ErrType is a register value that does not fit the point's type.
var ErrType = errors.New("unexpected value")

// ErrAbsent is a value the device marks as "no value": SunSpec's not-implemented patterns (0xFFFF,
// 0x8000, ...), a NaN float, a scale factor of 0x8000, or a raw value the profile lists in absent.
var ErrAbsent = errors.New("the device reports no value")

// ordered returns the value's bytes most significant first, undoing the register's word and byte
// order. words has exactly r.Words() entries.
func ordered(r *Register, words []uint16) []byte {
	b := make([]byte, 2*len(words))
	for i, w := range words {
		j := i
		if r.WordOrder == "little" && r.Format != FormatString {
			j = len(words) - 1 - i
		}
		if r.ByteOrder == "little" {
			w = w<<8 | w>>8
		}
		binary.BigEndian.PutUint16(b[2*j:], w)
	}
	return b
}

// toWords is ordered's inverse: the registers that hold b (most significant byte first) in the
// register's word and byte order.
func toWords(r *Register, b []byte) []uint16 {
	words := make([]uint16, len(b)/2)
	for i := range words {
		w := binary.BigEndian.Uint16(b[2*i:])
		if r.ByteOrder == "little" {
			w = w<<8 | w>>8
		}
		j := i
		if r.WordOrder == "little" && r.Format != FormatString {
			j = len(words) - 1 - i
		}
		words[j] = w
	}
	return words
}

// raw is a register value before the point's type is applied: a number or a byte string.
type raw struct {
	num   float64
	isNum bool
	bytes []byte // FormatString
}

func (r raw) String() string {
	if r.isNum {
		return strconv.FormatFloat(r.num, 'f', -1, 64)
	}
	return fmt.Sprintf("%q", r.bytes)
}

// decodeRaw reads the number or text that words hold in r's format. sunspec reports SunSpec's
// not-implemented patterns as ErrAbsent.
func decodeRaw(r *Register, words []uint16, sunspec bool) (raw, error) {
	if len(words) != r.Words() {
		return raw{}, fmt.Errorf("%w: %d registers for a %s", ErrType, len(words), formatName(r))
	}
	b := ordered(r, words)
	var n float64
	var notImpl bool
	switch r.Format {
	case FormatString:
		s := b
		if sunspec && !slices.ContainsFunc(s, func(c byte) bool { return c != 0 }) {
			return raw{}, ErrAbsent
		}
		return raw{bytes: s}, nil
	case "", FormatU16:
		v := binary.BigEndian.Uint16(b)
		n, notImpl = float64(v), v == 0xFFFF
	case FormatI16:
		v := int16(binary.BigEndian.Uint16(b))
		n, notImpl = float64(v), v == math.MinInt16
	case FormatU32:
		v := binary.BigEndian.Uint32(b)
		n, notImpl = float64(v), v == math.MaxUint32
	case FormatI32:
		v := int32(binary.BigEndian.Uint32(b))
		n, notImpl = float64(v), v == math.MinInt32
	case FormatU64:
		v := binary.BigEndian.Uint64(b)
		n, notImpl = float64(v), v == math.MaxUint64
	case FormatI64:
		v := int64(binary.BigEndian.Uint64(b))
		n, notImpl = float64(v), v == math.MinInt64
	case FormatF32:
		f := math.Float32frombits(binary.BigEndian.Uint32(b))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return raw{}, fmt.Errorf("%w (raw %08x, not a number)", ErrAbsent, binary.BigEndian.Uint32(b))
		}
		// The shortest decimal that is this float32 (230.5, not 230.50000762939453): a float32 holds
		// no more than that, and twins should not report digits the device never had.
		n, _ = strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	case FormatF64:
		n = math.Float64frombits(binary.BigEndian.Uint64(b))
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return raw{}, fmt.Errorf("%w (raw %016x, not a number)", ErrAbsent, binary.BigEndian.Uint64(b))
		}
	default:
		return raw{}, fmt.Errorf("%w: unknown register format %q", ErrType, r.Format)
	}
	if sunspec && notImpl {
		return raw{}, fmt.Errorf("%w (SunSpec not implemented: %x)", ErrAbsent, b)
	}
	return raw{num: n, isNum: true}, nil
}

// value applies a point's type, absent list, scale and offset to a raw value. sf is the SunSpec scale
// factor (a power of ten), 0 when the point has none.
func value(p *gateway.Point, r raw, sf int) (gateway.Value, error) {
	if !r.isNum {
		return textValue(p, r.bytes)
	}
	n := r.num
	if slices.Contains(p.Absent, n) {
		return gateway.Value{}, fmt.Errorf("%w (raw %v)", ErrAbsent, n)
	}
	switch p.Type {
	case gateway.TypeBool:
		return gateway.Bool(n != 0), nil
	case gateway.TypeEnum:
		if name, ok := p.Enum[int64(n)]; ok {
			return gateway.String(name), nil
		}
		return gateway.String("unknown(" + strconv.FormatInt(int64(n), 10) + ")"), nil
	case gateway.TypeString:
		return gateway.String(strconv.FormatFloat(n, 'f', -1, 64)), nil
	case gateway.TypeIP:
		if r := regOf(p); r != nil && r.Words() == 2 && n >= 0 && n <= math.MaxUint32 {
			v := uint32(n)
			return gateway.String(net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()), nil
		}
		return gateway.Value{}, fmt.Errorf("%w: an IPv4 address is a u32", ErrType)
	case gateway.TypeMAC, gateway.TypeOID:
		return gateway.Value{}, fmt.Errorf("%w: a %s point needs a string register", ErrType, p.Type)
	case gateway.TypeTimeticks:
		n /= 100
	}
	if sf != 0 {
		n *= math.Pow10(sf)
	}
	if p.Scale != 0 {
		n *= p.Scale
	}
	n += p.Offset
	return gateway.Number(round(n)), nil
}

// textValue reads a string register's bytes: text with NULs and trailing spaces trimmed, or six bytes
// as a MAC address.
func textValue(p *gateway.Point, b []byte) (gateway.Value, error) {
	if p.Type == gateway.TypeMAC {
		if m := macOf(b); m != "" {
			return gateway.String(m), nil
		}
		return gateway.Value{}, fmt.Errorf("%w: % x is not a MAC address", ErrType, b)
	}
	s, ok := text(b)
	if !ok {
		return gateway.Value{}, fmt.Errorf("%w: % x is not text", ErrType, truncBytes(b))
	}
	switch p.Type {
	case gateway.TypeString, "":
		return gateway.String(s), nil
	case gateway.TypeIP:
		if net.ParseIP(s) != nil {
			return gateway.String(s), nil
		}
		return gateway.Value{}, fmt.Errorf("%w: %q is not an IP address", ErrType, s)
	}
	if p.Type.Numeric() {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return gateway.Value{}, fmt.Errorf("%w: %q is not a number", ErrType, s)
		}
		return value(p, raw{num: f, isNum: true}, 0)
	}
	return gateway.Value{}, fmt.Errorf("%w: a %s point cannot come from text", ErrType, p.Type)
}

// text is a string register's content: bytes up to the first NUL, trailing spaces trimmed; ok is false
// when that is not printable UTF-8.
func text(b []byte) (string, bool) {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	s := strings.TrimRight(string(b), " ")
	if !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	return s, true
}

// macOf reads a MAC address from a register's bytes: six raw bytes (or eight with two leading zero
// bytes, SunSpec's EUI-48 in four registers), or text like "00:11:22:aa:bb:cc" or "001122AABBCC".
// Placeholders (all zero, all ones, multicast) give "".
func macOf(b []byte) string {
	var hw net.HardwareAddr
	switch {
	case len(b) == 8 && b[0] == 0 && b[1] == 0:
		hw = net.HardwareAddr(b[2:])
	case len(b) == 6:
		hw = net.HardwareAddr(b)
	default:
		s, ok := text(b)
		if !ok {
			return ""
		}
		s = strings.TrimSpace(s)
		if len(s) == 12 {
			s = s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
		}
		var err error
		if hw, err = net.ParseMAC(s); err != nil || len(hw) != 6 {
			return ""
		}
	}
	if hw[0]&1 == 1 || !slices.ContainsFunc(hw, func(c byte) bool { return c != 0 }) {
		return "" // multicast/broadcast or all zero: a placeholder, not an address
	}
	return strings.ToLower(hw.String())
}

// ErrNotRepresentable is a value the register cannot hold (out of its format's range, a fraction in an
// integer register, a string too long).
var ErrNotRepresentable = errors.New("value does not fit the register")

// encode turns a validated value into the registers (or, for a coil, the bit) that hold it. sf is the
// point's SunSpec scale factor, 0 when it has none.
func encode(p *gateway.Point, v gateway.Value, sf int) (words []uint16, bit bool, err error) {
	r := regOf(p)
	if r == nil {
		return nil, false, fmt.Errorf("%w: the point has no register", ErrNotWritable)
	}
	switch r.Table {
	case TableInput, TableDiscrete:
		return nil, false, fmt.Errorf("%w: %s registers are read-only in Modbus", ErrNotWritable, r.Table)
	case TableCoil:
		switch v.Kind {
		case gateway.KindBool:
			return nil, v.Bool, nil
		case gateway.KindNumber:
			return nil, v.Num != 0, nil
		}
		return nil, false, fmt.Errorf("%w: a coil takes true or false, not %s", ErrType, describe(v))
	}
	if r.Format == FormatString {
		if v.Kind != gateway.KindString {
			return nil, false, fmt.Errorf("%w: a string register takes a string, not %s", ErrType, describe(v))
		}
		b := []byte(v.Str)
		if p.Type == gateway.TypeMAC {
			hw, err := net.ParseMAC(strings.TrimSpace(v.Str))
			if err != nil || len(hw) != 6 {
				return nil, false, fmt.Errorf("%w: %q is not a MAC address", ErrType, v.Str)
			}
			b = hw
		}
		if len(b) > 2*r.Count {
			return nil, false, fmt.Errorf("%w: %d bytes do not fit %d registers", ErrNotRepresentable, len(b), r.Count)
		}
		buf := make([]byte, 2*r.Count) // padded with NULs
		copy(buf, b)
		return toWords(r, buf), false, nil
	}
	var n float64
	switch {
	case p.Type == gateway.TypeEnum:
		k, err := enumRaw(p, v)
		if err != nil {
			return nil, false, err
		}
		n = float64(k)
	case p.Type == gateway.TypeBool:
		if v.Kind != gateway.KindBool && v.Kind != gateway.KindNumber {
			return nil, false, fmt.Errorf("%w: true or false, not %s", ErrType, describe(v))
		}
		n = 0
		if v.Bool || (v.Kind == gateway.KindNumber && v.Num != 0) {
			n = 1
		}
	case v.Kind == gateway.KindNumber:
		n = v.Num - p.Offset
		if p.Scale != 0 {
			n /= p.Scale
		}
		if sf != 0 {
			n /= math.Pow10(sf)
		}
	default:
		return nil, false, fmt.Errorf("%w: a %s register takes a number, not %s", ErrType, r.Format, describe(v))
	}
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, false, fmt.Errorf("%w: %v", ErrNotRepresentable, n)
	}
	b := make([]byte, 2*r.Words())
	integral := func() (float64, error) {
		k := math.Round(n)
		if math.Abs(n-k) > 1e-6*math.Max(1, math.Abs(n)) {
			return 0, fmt.Errorf("%w: %v is not a whole number of the register's steps (raw %v)", ErrNotRepresentable, v, n)
		}
		return k, nil
	}
	inRange := func(k, lo, hi float64) error {
		if k < lo || k > hi {
			return fmt.Errorf("%w: raw %v is outside %s's range %v..%v", ErrNotRepresentable, k, r.Format, lo, hi)
		}
		return nil
	}
	var k float64
	if r.Format != FormatF32 && r.Format != FormatF64 {
		if k, err = integral(); err != nil {
			return nil, false, err
		}
	}
	switch r.Format {
	case "", FormatU16:
		err = inRange(k, 0, math.MaxUint16)
		binary.BigEndian.PutUint16(b, uint16(k))
	case FormatI16:
		err = inRange(k, math.MinInt16, math.MaxInt16)
		binary.BigEndian.PutUint16(b, uint16(int16(k)))
	case FormatU32:
		err = inRange(k, 0, math.MaxUint32)
		binary.BigEndian.PutUint32(b, uint32(k))
	case FormatI32:
		err = inRange(k, math.MinInt32, math.MaxInt32)
		binary.BigEndian.PutUint32(b, uint32(int32(k)))
	case FormatU64:
		err = inRange(k, 0, 1<<53) // exact in a float64
		binary.BigEndian.PutUint64(b, uint64(k))
	case FormatI64:
		err = inRange(k, -(1 << 53), 1<<53)
		binary.BigEndian.PutUint64(b, uint64(int64(k)))
	case FormatF32:
		if math.Abs(n) > math.MaxFloat32 {
			err = fmt.Errorf("%w: %v is beyond a 32-bit float", ErrNotRepresentable, n)
		}
		binary.BigEndian.PutUint32(b, math.Float32bits(float32(n)))
	case FormatF64:
		binary.BigEndian.PutUint64(b, math.Float64bits(n))
	default:
		err = fmt.Errorf("%w: unknown register format %q", ErrNotWritable, r.Format)
	}
	if err != nil {
		return nil, false, err
	}
	return toWords(r, b), false, nil
}

// enumRaw maps an enum value back to its integer: a name from p.Enum, or a number p.Enum knows.
func enumRaw(p *gateway.Point, v gateway.Value) (int64, error) {
	switch v.Kind {
	case gateway.KindString:
		for k, name := range p.Enum {
			if name == strings.TrimSpace(v.Str) {
				return k, nil
			}
		}
		return 0, fmt.Errorf("%w: %q is not one of the point's values", ErrType, v.Str)
	case gateway.KindNumber:
		k := int64(v.Num)
		if _, ok := p.Enum[k]; (ok || len(p.Enum) == 0) && float64(k) == v.Num {
			return k, nil
		}
		return 0, fmt.Errorf("%w: %v is not one of the point's values", ErrType, v.Num)
	}
	return 0, fmt.Errorf("%w: an enum takes a name, not %s", ErrType, describe(v))
}

func describe(v gateway.Value) string {
	switch v.Kind {
	case gateway.KindNumber:
		return "the number " + v.String()
	case gateway.KindString:
		return fmt.Sprintf("the string %q", v.Str)
	case gateway.KindBool:
		return "a boolean"
	}
	return "null"
}

// round drops float noise from scaling (0.1*235 = 23.500000000000004).
func round(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return f
	}
	return math.Round(f*1e9) / 1e9
}

func formatName(r *Register) string {
	if r.Format == FormatString {
		return fmt.Sprintf("string(%d)", r.Count)
	}
	if r.Format == "" {
		return "bit"
	}
	return r.Format
}

func truncBytes(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
