package modbus

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgegw/edgegw/gateway"
)

// TestMain checks that no test leaves a goroutine behind (goburrow's idle timers included).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDecodeEncodings decodes the same independently built words as TestRegisterFormats, without a
// server, and writes every value back to the same words.
func TestDecodeEncodings(t *testing.T) {
	words, points, want := encodings()
	for _, p := range points {
		r := regOf(&p)
		w := words[r.Address : int(r.Address)+r.Words()]
		rv, err := decodeRaw(r, w, false)
		require.NoError(t, err, p.Name)
		v, err := value(&p, rv, 0)
		require.NoError(t, err, p.Name)
		require.Equal(t, want[p.Name], v, p.Name)
		back, _, err := encode(&p, v, 0)
		require.NoError(t, err, p.Name)
		require.Equal(t, w, back, p.Name)
	}
}

func TestDecodeQuirks(t *testing.T) {
	u16 := &Register{Format: "u16"}
	i16 := &Register{Format: "i16"}
	u32 := &Register{Format: "u32"}
	f32 := &Register{Format: "f32"}
	str := &Register{Format: "string", Count: 4}
	t.Run("SunSpec not implemented", func(t *testing.T) {
		for _, c := range []struct {
			r *Register
			w []uint16
		}{{u16, []uint16{0xFFFF}}, {i16, []uint16{0x8000}}, {u32, []uint16{0xFFFF, 0xFFFF}}, {str, []uint16{0, 0, 0, 0}}} {
			_, err := decodeRaw(c.r, c.w, true)
			require.ErrorIs(t, err, ErrAbsent, "%v", c.w)
			_, err = decodeRaw(c.r, c.w, false)
			require.NoError(t, err, "outside SunSpec %v is a value", c.w)
		}
	})
	t.Run("float NaN is no value", func(t *testing.T) {
		_, err := decodeRaw(f32, []uint16{0x7FC0, 0}, false)
		require.ErrorIs(t, err, ErrAbsent)
	})
	t.Run("scale factor and scale", func(t *testing.T) {
		p := &gateway.Point{Type: gateway.TypeFloat, Scale: 0.5, Offset: -40}
		v, err := value(p, raw{num: 1234, isNum: true}, -1)
		require.NoError(t, err)
		require.Equal(t, 1234*0.1*0.5-40, v.Num)
		w, _, err := encode(&gateway.Point{Type: gateway.TypeFloat, Scale: 0.5, Offset: -40, Address: i16}, v, -1)
		require.NoError(t, err)
		require.Equal(t, []uint16{1234}, w)
	})
	t.Run("absent list", func(t *testing.T) {
		_, err := value(&gateway.Point{Type: gateway.TypeInt, Absent: []float64{65535}}, raw{num: 65535, isNum: true}, 0)
		require.ErrorIs(t, err, ErrAbsent)
	})
	t.Run("enum", func(t *testing.T) {
		p := &gateway.Point{Type: gateway.TypeEnum, Enum: map[int64]string{1: "on"}, Address: u16}
		v, _ := value(p, raw{num: 1, isNum: true}, 0)
		require.Equal(t, gateway.String("on"), v)
		v, _ = value(p, raw{num: 9, isNum: true}, 0)
		require.Equal(t, gateway.String("unknown(9)"), v)
		_, _, err := encode(p, gateway.String("off"), 0)
		require.ErrorIs(t, err, ErrType)
	})
	t.Run("text", func(t *testing.T) {
		v, err := textValue(&gateway.Point{Type: gateway.TypeString}, []byte("SB3.6\x00\x00\x00"))
		require.NoError(t, err)
		require.Equal(t, gateway.String("SB3.6"), v)
		_, err = textValue(&gateway.Point{Type: gateway.TypeString}, []byte{0x01, 0xff, 0xfe, 0})
		require.ErrorIs(t, err, ErrType)
	})
	t.Run("MAC", func(t *testing.T) {
		for in, want := range map[string]string{
			"\x00\x00\x00\x40\xad\xa9\x95\x76": "00:40:ad:a9:95:76", // SunSpec EUI-48 in four registers
			"\x02\xed\x67\x00\x00\x01":         "02:ed:67:00:00:01",
			"00:11:22:AA:BB:CC\x00":            "00:11:22:aa:bb:cc",
			"001122AABBCC":                     "00:11:22:aa:bb:cc",
			"\x00\x00\x00\x00\x00\x00":         "", // placeholder
			"\xff\xff\xff\xff\xff\xff":         "", // broadcast
			"\x01\x00\x5e\x00\x00\x01":         "", // multicast
		} {
			require.Equal(t, want, macOf([]byte(in)), "%q", in)
		}
	})
	t.Run("write range", func(t *testing.T) {
		for _, c := range []struct {
			r *Register
			v float64
		}{{u16, -1}, {u16, 65536}, {i16, 40000}, {u16, 1.5}, {u32, 1 << 32}} {
			_, _, err := encode(&gateway.Point{Type: gateway.TypeFloat, Address: c.r}, gateway.Number(c.v), 0)
			require.ErrorIs(t, err, ErrNotRepresentable, "%s %v", c.r.Format, c.v)
		}
		_, _, err := encode(&gateway.Point{Type: gateway.TypeString, Address: str}, gateway.String("longer than 8 bytes"), 0)
		require.ErrorIs(t, err, ErrNotRepresentable)
	})
}

func TestPlan(t *testing.T) {
	it := func(table string, addr uint16, n int) *item { return &item{table: table, addr: addr, n: n} }
	items := []*item{
		it("holding", 10, 2), it("holding", 0, 1), it("holding", 1, 4), it("holding", 20, 1), // 0..5, 10..11 (gap 4), 20 (gap 8)
		it("holding", 29, 1), // gap 8 from 21: still one read
		it("holding", 200, 125),
		it("input", 0, 2), it("coil", 0, 1), it("coil", 1999, 1), it("coil", 2000, 1),
	}
	spans := plan(items, maxGap)
	type got struct {
		table string
		addr  uint16
		n     int
	}
	var out []got
	for _, s := range spans {
		out = append(out, got{s.table, s.addr, s.n})
	}
	require.Equal(t, []got{
		{"coil", 0, 1}, {"coil", 1999, 2}, // 0..2000 is 2001 bits, over the 2000 limit
		{"holding", 0, 30}, {"holding", 200, 125},
		{"input", 0, 2},
	}, out)
	strict := plan(items[:5], 0)
	require.Len(t, strict, 4, "no gaps: 0..4 together, 10, 20, 29 alone")
	require.Equal(t, 5, strict[0].n)
}

// FuzzDecode feeds arbitrary words and register layouts to the decoder: it must never panic, and any
// number it decodes from an integer format must encode back to the same words.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x53, 0x75, 0x6e, 0x53}, uint8(2), uint8(0), false, false, true)
	f.Add([]byte{0x43, 0x6a, 0xa2, 0xcb}, uint8(6), uint8(0), false, false, false)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, uint8(4), uint8(3), true, true, true)
	f.Fuzz(func(t *testing.T, data []byte, format, count uint8, littleWords, littleBytes, sunspec bool) {
		formats := []string{"u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "string"}
		r := &Register{Table: TableHolding, Format: formats[int(format)%len(formats)], Count: int(count%125) + 1}
		if littleWords {
			r.WordOrder = "little"
		}
		if littleBytes {
			r.ByteOrder = "little"
		}
		w := make([]uint16, len(data)/2)
		for i := range w {
			w[i] = binary.BigEndian.Uint16(data[2*i:])
		}
		rv, err := decodeRaw(r, w, sunspec)
		if err != nil {
			return
		}
		for _, typ := range []gateway.ValueType{gateway.TypeInt, gateway.TypeFloat, gateway.TypeString, gateway.TypeMAC, gateway.TypeIP, gateway.TypeBool} {
			p := &gateway.Point{Type: typ, Address: r}
			v, err := value(p, rv, int(count%21)-10)
			if err != nil {
				continue
			}
			encode(p, v, int(count%21)-10) // must not panic
		}
		if rv.isNum && r.Format != "f32" && r.Format != "f64" && math.Abs(rv.num) < 1<<53 {
			back, _, err := encode(&gateway.Point{Type: gateway.TypeInt, Address: r}, gateway.Number(rv.num), 0)
			if err != nil {
				t.Fatalf("%s %v: decoded %v, encode: %v", r.Format, w, rv.num, err)
			}
			for i := range back {
				if back[i] != w[i] {
					t.Fatalf("%s %v: decoded %v, encoded back to %v", r.Format, w, rv.num, back)
				}
			}
		}
	})
}
