package modbus

import (
	"context"
	"encoding/binary"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
)

// TestSMASunnyBoy: a real SMA Sunny Boy 3.6's SunSpec map (../shared/testdata/real/modbus), served by
// pymodbus. Identity and model 101 values as the dump's author asserts them
// (sma-sunnyboy36_SunSpec2025.schema-test.yaml).
func TestSMASunnyBoy(t *testing.T) {
	regs := peers.Shared(t, "testdata/real/modbus/sma-sunnyboy36_2025-05-18.regs")
	srv := startServer(t, peers.ModbusOptions{Regs: []string{regs}, Vendor: "SMA", Product: "SB3.6"})
	d := newDriver(t, Table{Name: "sma", Targets: []gateway.Target{tcpTarget(t, srv.Addr)}, UnitIDs: []uint8{3}})
	found, failed := discover(t, d)
	require.Empty(t, failed)
	require.Len(t, found, 1)
	s := found[0]
	require.Equal(t, Protocol, s.Protocol)
	require.Equal(t, srv.Addr+"?unit=3", s.Address)
	require.Equal(t, "sunspec-inverter", s.Profile, "SunSpec models 1 and 101")
	id := s.Identity
	require.Equal(t, "SMA", id.Manufacturer)
	require.Equal(t, "SB3.6-1AV-41", id.Model, "SunSpec Md wins over function 43's product code")
	require.Equal(t, "4.01.15.R", id.Firmware)
	require.Equal(t, "3005067415", id.Serial)
	require.Equal(t, "00:40:ad:a9:95:76", id.MAC, "SunSpec model 11")
	require.Equal(t, "127.0.0.1", id.IP)

	p := library(t).Get("sunspec-inverter")
	rs := poll(t, d, s.Endpoint(), p.Points)
	want := map[string]float64{
		"acCurrentAmps": 15.1, "acCurrentPhaseAAmps": 15.1, "acVoltageAnVolts": 244, "acPowerWatts": 3680,
		"frequencyHz": 49.99, "apparentPowerVa": 3680, "reactivePowerVar": 80, "powerFactor": -1,
		"energyWh": 30388530, "cabinetTemperatureCelsius": 44,
	}
	for name, v := range want {
		r := rs[name]
		require.NoError(t, r.Err, name)
		require.InDelta(t, v, r.Value.Num, 1e-9, name)
	}
	require.Equal(t, gateway.String("mppt"), rs["operatingState"].Value, "St 4 = MPPT")
	// What the author asserts as empty is SunSpec's "not implemented": no value, not a number.
	for _, name := range []string{"dcCurrentAmps", "dcVoltageVolts", "dcPowerWatts"} {
		require.ErrorIs(t, rs[name].Err, ErrAbsent, name)
	}
	require.Equal(t, "holding 40187", rs["acCurrentAmps"].Source, "model 101 is found where this device put it")
}

// TestEastronSDM630: a real Eastron SDM630's input registers (float32, high word first); the meter
// identifies itself in no way, so the table names its profile.
func TestEastronSDM630(t *testing.T) {
	regs := peers.Shared(t, "testdata/real/modbus/eastron-sdm630.regs")
	srv := startServer(t, peers.ModbusOptions{Regs: []string{regs}, Vendor: "Eastron", Product: "SDM630"})
	d := newDriver(t, Table{Name: "meters", Targets: []gateway.Target{tcpTarget(t, srv.Addr)}, UnitIDs: []uint8{1},
		Profile: "eastron-sdm630"})
	found, failed := discover(t, d)
	require.Empty(t, failed)
	require.Len(t, found, 1)
	require.Equal(t, "eastron-sdm630", found[0].Profile)
	require.Equal(t, "Eastron", found[0].Identity.Manufacturer)
	rs := poll(t, d, found[0].Endpoint(), library(t).Get("eastron-sdm630").Points)
	// The dump author's expected values, to their three decimals.
	for name, v := range map[string]float64{
		"voltageL1Volts": 234.636, "voltageL2Volts": 234.369, "voltageL3Volts": 235.812,
		"currentL1Amps": 3.503, "currentL2Amps": 3.135, "currentL3Amps": 4.038,
		"powerL1Watts": 535.124, "powerL2Watts": 550.213, "powerL3Watts": 735.555,
		"powerFactorL1": 0.654, "powerFactorL2": 0.751, "powerFactorL3": 0.774,
		"totalPowerWatts": 1820.892, "totalApparentPowerVa": 2494.373, "totalReactivePowerVar": 1704.772,
		"totalPowerFactor": 0.730, "frequencyHz": 49.900, "importEnergyKwh": 8.608,
	} {
		r := rs[name]
		require.NoError(t, r.Err, name)
		require.InDelta(t, v, r.Value.Num, 0.0005, name)
	}
}

// encodings is one value of every format, in both word orders (and one little byte order), laid out in
// holding registers from 0; the test writes the words itself so that the decoder is checked against
// an independent encoding.
func encodings() (words []uint16, points []gateway.Point, want map[string]gateway.Value) {
	want = map[string]gateway.Value{}
	add := func(name string, format, wordOrder, byteOrder string, typ gateway.ValueType, b []byte, v gateway.Value) {
		r := &Register{Table: TableHolding, Address: uint16(len(words)), Format: format,
			WordOrder: wordOrder, ByteOrder: byteOrder}
		n := len(b) / 2
		ws := make([]uint16, n)
		for i := range ws {
			ws[i] = binary.BigEndian.Uint16(b[2*i:])
			if byteOrder == "little" {
				ws[i] = ws[i]<<8 | ws[i]>>8
			}
		}
		if wordOrder == "little" && format != FormatString {
			for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
				ws[i], ws[j] = ws[j], ws[i]
			}
		}
		if format == FormatString {
			r.Count = n
		}
		words = append(words, ws...)
		points = append(points, gateway.Point{Name: name, Address: r, Type: typ})
		want[name] = v
	}
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	be64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	for _, wo := range []string{"big", "little"} {
		add("u16"+wo, "u16", wo, "", gateway.TypeUint, be16(65000), gateway.Number(65000))
		add("i16"+wo, "i16", wo, "", gateway.TypeInt, be16(uint16(0xFFFF-1233)), gateway.Number(-1234))
		add("u32"+wo, "u32", wo, "", gateway.TypeUint, be32(4_000_000_000), gateway.Number(4_000_000_000))
		add("i32"+wo, "i32", wo, "", gateway.TypeInt, be32(uint32(0xFFFFFFFF-1999999)), gateway.Number(-2_000_000))
		add("u64"+wo, "u64", wo, "", gateway.TypeUint, be64(1<<50+7), gateway.Number(1<<50+7))
		add("i64"+wo, "i64", wo, "", gateway.TypeInt, be64(uint64(1<<64-(1<<40))), gateway.Number(-(1 << 40)))
		add("f32"+wo, "f32", wo, "", gateway.TypeFloat, be32(math.Float32bits(-273.25)), gateway.Number(-273.25))
		add("f64"+wo, "f64", wo, "", gateway.TypeFloat, be64(math.Float64bits(6.02214076e23)), gateway.Number(6.02214076e23))
	}
	add("u32bytes", "u32", "little", "little", gateway.TypeUint, be32(0x11223344), gateway.Number(0x11223344))
	add("text", "string", "", "", gateway.TypeString, []byte("Hall C\x00\x00\x00\x00"), gateway.String("Hall C"))
	add("textSwapped", "string", "", "little", gateway.TypeString, []byte("ABCD"), gateway.String("ABCD"))
	return words, points, want
}

// TestRegisterFormats reads a value of every format and word order from pymodbus.
func TestRegisterFormats(t *testing.T) {
	words, points, want := encodings()
	regs := peers.WriteRegs(t, map[string]map[uint16][]uint16{"hr": {0: words}})
	srv := startServer(t, peers.ModbusOptions{Regs: []string{regs}, Vendor: "Test", Product: "Formats"})
	d := newDriver(t, Table{Name: "t", Targets: []gateway.Target{tcpTarget(t, srv.Addr)}})
	ep := gateway.Endpoint{Protocol: Protocol, Address: srv.Addr + "?unit=1", Credential: "t"}
	rs := poll(t, d, ep, points)
	require.Len(t, rs, len(points))
	for name, v := range want {
		require.NoError(t, rs[name].Err, name)
		require.Equal(t, v, rs[name].Value, name)
	}
}

// TestWriteLands writes settings of every kind to pymodbus and checks them with mbpoll, a client
// nobody here wrote, as well as with the driver's read-back.
func TestWriteLands(t *testing.T) {
	srv := startServer(t, peers.ModbusOptions{}) // the built-in map: hr[i] = 1000+i, coils alternate
	d := newDriver(t, Table{Name: "t", Targets: []gateway.Target{tcpTarget(t, srv.Addr)}})
	ep := gateway.Endpoint{Protocol: Protocol, Address: srv.Addr + "?unit=1", Credential: "t"}
	reg := func(addr uint16, format string) *Register {
		return &Register{Table: TableHolding, Address: addr, Format: format, Count: 4}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		p gateway.Point
		v gateway.Value
	}{
		{gateway.Point{Name: "u16", Address: reg(10, "u16"), Type: gateway.TypeUint, Writable: true}, gateway.Number(4242)},
		{gateway.Point{Name: "scaled", Address: reg(11, "i16"), Type: gateway.TypeFloat, Scale: 0.1, Writable: true}, gateway.Number(-12.5)},
		{gateway.Point{Name: "i32", Address: reg(12, "i32"), Type: gateway.TypeInt, Writable: true}, gateway.Number(-100000)},
		{gateway.Point{Name: "f32", Address: reg(14, "f32"), Type: gateway.TypeFloat, Writable: true}, gateway.Number(21.5)},
		{gateway.Point{Name: "name", Address: reg(20, "string"), Type: gateway.TypeString, Writable: true}, gateway.String("Lobby")},
		{gateway.Point{Name: "mode", Address: reg(16, "u16"), Type: gateway.TypeEnum, Enum: map[int64]string{0: "off", 3: "eco"},
			Writable: true}, gateway.String("eco")},
		{gateway.Point{Name: "relay", Address: &Register{Table: TableCoil, Address: 2}, Type: gateway.TypeBool,
			Writable: true}, gateway.Bool(true)},
	} {
		back, err := d.Write(ctx, ep, c.p, c.v)
		require.NoError(t, err, c.p.Name)
		require.Equal(t, c.v, back, c.p.Name)
	}
	// mbpoll: -0 zero-based addresses, -1 one poll, -r first -c count, -t 4 holding (4:hex raw).
	out := mbpoll(t, srv.Addr, "-t", "4:hex", "-r", "10", "-c", "8")
	for _, w := range []string{"[10]: \t0x1092", "[11]: \t0xFF83", "[12]: \t0xFFFE", "[13]: \t0x7960",
		"[14]: \t0x41AC", "[15]: \t0x0000", "[16]: \t0x0003"} {
		require.Contains(t, out, w, out)
	}
	out = mbpoll(t, srv.Addr, "-t", "0", "-r", "2", "-c", "1")
	require.Contains(t, out, "[2]: \t1", out)

	t.Run("refusals", func(t *testing.T) {
		p := gateway.Point{Name: "ro", Address: &Register{Table: TableInput, Address: 1, Format: "u16"}, Type: gateway.TypeUint}
		_, err := d.Write(ctx, ep, p, gateway.Number(1))
		require.ErrorIs(t, err, ErrNotWritable)
		p = gateway.Point{Name: "small", Address: reg(10, "u16"), Type: gateway.TypeUint, Writable: true}
		_, err = d.Write(ctx, ep, p, gateway.Number(70000))
		require.ErrorIs(t, err, ErrNotRepresentable)
		require.Contains(t, err.Error(), "modbus "+srv.Addr+" unit 1: set small")
		p = gateway.Point{Name: "nowhere", Address: reg(5000, "u16"), Type: gateway.TypeUint, Writable: true}
		_, err = d.Write(ctx, ep, p, gateway.Number(1))
		var we *gateway.WriteError
		require.ErrorAs(t, err, &we)
		require.Equal(t, "illegal data address", we.Reason)
		require.Equal(t, "set nowhere: the device refused it: illegal data address (no such register)", err.Error())
	})
}

// mbpoll reads with Debian's mbpoll against a TCP server; args select the table and range.
func mbpoll(t *testing.T, addr string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("mbpoll")
	if err != nil {
		if peers.InCI() {
			t.Fatal("mbpoll is not installed (scripts/peers/peers.sh install installs it)")
		}
		t.Skip("mbpoll is not installed")
	}
	host, port, _ := strings.Cut(addr, ":")
	full := append([]string{"-m", "tcp", "-p", port, "-a", "1", "-0", "-1", "-o", "2"}, args...)
	out, err := exec.Command(bin, append(full, host)...).CombinedOutput()
	require.NoError(t, err, "mbpoll %v: %s", full, out)
	return string(out)
}

// TestExceptions: an unmapped register is a reading error naming the exception, and the rest of the
// poll goes on; a coalesced read that crosses a hole is re-read point by point.
func TestExceptions(t *testing.T) {
	regs := peers.WriteRegs(t, map[string]map[uint16][]uint16{"hr": {0: {1, 2, 3}, 6: {7, 8}}})
	srv := startServer(t, peers.ModbusOptions{Regs: []string{regs}})
	d := newDriver(t, Table{Name: "t", Targets: []gateway.Target{tcpTarget(t, srv.Addr)}})
	ep := gateway.Endpoint{Protocol: Protocol, Address: srv.Addr + "?unit=1", Credential: "t"}
	pt := func(name string, addr uint16) gateway.Point {
		return gateway.Point{Name: name, Address: &Register{Table: TableHolding, Address: addr, Format: "u16"}, Type: gateway.TypeUint}
	}
	points := []gateway.Point{pt("a", 0), pt("c", 2), pt("hole", 4), pt("g", 6), pt("h", 7), pt("far", 9000)}
	for range 2 { // the second poll plans point by point
		rs := poll(t, d, ep, points)
		for name, v := range map[string]float64{"a": 1, "c": 3, "g": 7, "h": 8} {
			require.NoError(t, rs[name].Err, name)
			require.Equal(t, v, rs[name].Value.Num, name)
		}
		require.ErrorContains(t, rs["hole"].Err, "hole: modbus "+srv.Addr+" unit 1: read holding 4+1: exception 02 (illegal data address)")
		require.ErrorContains(t, rs["far"].Err, "exception 02 (illegal data address)")
	}
	d.mu.Lock()
	require.True(t, d.units[ep.Address].strict)
	d.mu.Unlock()
}

// TestProxyFaults: device busy, a connection closed mid-request and a reply later than the timeout,
// played by a proxy in front of pymodbus (which does none of these on cue).
func TestProxyFaults(t *testing.T) {
	srv := startServer(t, peers.ModbusOptions{})
	px := newProxy(t, srv.Addr)
	d := newDriver(t, Table{Name: "t", Targets: []gateway.Target{tcpTarget(t, px.addr)}, Timeout: 300 * time.Millisecond})
	ep := gateway.Endpoint{Protocol: Protocol, Address: px.addr + "?unit=1", Credential: "t"}
	points := []gateway.Point{{Name: "x", Address: &Register{Table: TableHolding, Address: 5, Format: "u16"}, Type: gateway.TypeUint}}
	ok := func() {
		t.Helper()
		rs := poll(t, d, ep, points)
		require.NoError(t, rs["x"].Err)
		require.Equal(t, 1005.0, rs["x"].Value.Num)
	}
	fails := func(contains string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := d.Poll(ctx, ep, points)
		require.Error(t, err)
		require.Contains(t, err.Error(), contains)
	}
	ok()
	t.Run("device busy once is retried", func(t *testing.T) {
		px.set("busy")
		ok()
	})
	t.Run("device busy", func(t *testing.T) {
		px.set("busy-always")
		rs := poll(t, d, ep, points) // the device answered: a reading error, not a missed poll
		require.ErrorContains(t, rs["x"].Err, "exception 06 (server device busy)")
		px.set("")
		ok()
	})
	t.Run("closed mid-request", func(t *testing.T) {
		before := px.conns.Load()
		px.set("close")
		ok() // a reused connection the device closed: tried once more on a new one
		require.Equal(t, before+1, px.conns.Load())
		px.set("close-always")
		fails("modbus " + px.addr + " unit 1: read holding 5+1")
		px.set("")
		ok()
	})
	// (Counted before the late reply: the proxy holds the abandoned connection while it sleeps.)
	require.LessOrEqual(t, px.maxOpen.Load(), int64(1), "never two connections to one endpoint at once")
	t.Run("late reply", func(t *testing.T) {
		px.mu.Lock()
		px.delayBy = 600 * time.Millisecond
		px.mu.Unlock()
		px.set("delay")
		fails("no answer in time")
		px.set("")
		// goburrow alone would now read the late reply as the answer to the next request and fail on
		// every exchange after (goburrow/modbus#64); the driver started a new connection.
		for range 3 {
			ok()
		}
	})
}

// TestNoModbusConnectionExhaustion (Modbus connection exhaustion, #356: a client that opens a
// connection per unit or per poll and leaves them open runs a device that takes a few TCP clients out
// of sockets): discovery over 8 unit ids and concurrent polls of all of them share one connection, as
// devices that accept a single TCP client need. Formerly TestOneConnectionPerEndpoint.
func TestNoModbusConnectionExhaustion(t *testing.T) {
	srv := startServer(t, peers.ModbusOptions{})
	px := newProxy(t, srv.Addr)
	ids := []uint8{1, 2, 3, 4, 5, 6, 7, 8}
	d := newDriver(t, Table{Name: "t", Targets: []gateway.Target{tcpTarget(t, px.addr)}, UnitIDs: ids})
	found, failed := discover(t, d)
	require.Empty(t, failed)
	require.Len(t, found, len(ids), "pymodbus answers every unit id")
	for _, s := range found {
		require.Equal(t, "ACME", s.Identity.Manufacturer)
		require.Equal(t, "DP55", s.Identity.Model)
		require.Equal(t, "4.2.1", s.Identity.Firmware)
	}
	points := []gateway.Point{{Name: "x", Address: &Register{Table: TableInput, Address: 0, Format: "u16"}, Type: gateway.TypeUint}}
	errs := make(chan error, 4*len(found))
	for range 4 {
		for _, s := range found {
			go func() {
				rs, err := d.Poll(context.Background(), s.Endpoint(), points)
				if err == nil && (len(rs) != 1 || rs[0].Value.Num != 2000) {
					err = errTest("unexpected " + strconv.Itoa(len(rs)))
				}
				errs <- err
			}()
		}
	}
	for range 4 * len(found) {
		require.NoError(t, <-errs)
	}
	require.Equal(t, int64(1), px.conns.Load(), "one connection for every unit and poll")
	require.Equal(t, int64(1), px.maxOpen.Load())
}

type errTest string

func (e errTest) Error() string { return string(e) }

// TestOneBadModbusDeviceStallsNoOther (EdgeX device-modbus-go #666, Telegraf #3823: one device that
// times out or cannot be reached stops the data of every other): a unit behind an endpoint that accepts
// connections and never answers takes its timeout; a poll of a live endpoint started meanwhile finishes
// first. Formerly TestDeadEndpointDoesNotStall; the daemon-level test is TestOneBadDeviceStallsNoOther.
func TestOneBadModbusDeviceStallsNoOther(t *testing.T) {
	srv := startServer(t, peers.ModbusOptions{})
	hole := blackhole(t)
	d := newDriver(t,
		Table{Name: "dead", Targets: []gateway.Target{tcpTarget(t, hole)}, Timeout: 2 * time.Second},
		Table{Name: "live", Targets: []gateway.Target{tcpTarget(t, srv.Addr)}})
	points := []gateway.Point{{Name: "x", Address: &Register{Table: TableHolding, Address: 0, Format: "u16"}, Type: gateway.TypeUint}}
	dead := gateway.Endpoint{Protocol: Protocol, Address: hole + "?unit=1", Credential: "dead"}
	live := gateway.Endpoint{Protocol: Protocol, Address: srv.Addr + "?unit=1", Credential: "live"}
	done := make(chan string, 2)
	go func() {
		_, err := d.Poll(context.Background(), dead, points)
		assertErr(t, err)
		done <- "dead"
	}()
	time.Sleep(100 * time.Millisecond) // the dead poll is waiting for its answer now
	go func() {
		rs, err := d.Poll(context.Background(), live, points)
		if err == nil && rs[0].Err != nil {
			err = rs[0].Err
		}
		if err != nil {
			done <- err.Error()
			return
		}
		done <- "live"
	}()
	require.Equal(t, "live", <-done)
	require.Equal(t, "dead", <-done)

	// A refused endpoint fails at once for the polls queued behind it, instead of each trying again.
	refused := gateway.Endpoint{Protocol: Protocol, Address: "127.0.0.1:" + strconv.Itoa(freePort(t)) + "?unit=1", Credential: "dead"}
	_, err := d.Poll(context.Background(), refused, points)
	require.ErrorIs(t, err, ErrUnreachable)
	_, err = d.Poll(context.Background(), refused, points)
	require.ErrorIs(t, err, ErrUnreachable)
	require.Contains(t, err.Error(), "not tried again for")

	// Discovery reports a single host that cannot be reached; the others are still found.
	found, failed := discover(t, newDriver(t,
		Table{Name: "gone", Targets: []gateway.Target{tcpTarget(t, refused.Address[:strings.Index(refused.Address, "?")])}},
		Table{Name: "live", Targets: []gateway.Target{tcpTarget(t, srv.Addr)}}))
	require.Len(t, found, 1)
	require.Len(t, failed, 1)
	require.ErrorIs(t, failed[0], ErrUnreachable)
}

func assertErr(t *testing.T, err error) {
	if err == nil {
		t.Error("a poll of a silent endpoint succeeded")
	}
}

// blackhole accepts TCP connections and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := listenTCP()
	require.NoError(t, err)
	stop := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-stop; c.Close() }()
		}
	}()
	t.Cleanup(func() { close(stop); l.Close() })
	return l.Addr().String()
}

// TestRTU: the same driver over Modbus RTU, through a socat pty pair to pymodbus in serial mode, with
// the SMA map (identified by SunSpec: function 43 is not asked over RTU).
func TestRTU(t *testing.T) {
	regs := peers.Shared(t, "testdata/real/modbus/sma-sunnyboy36_2025-05-18.regs")
	srv := startServer(t, peers.ModbusOptions{Regs: []string{regs}, RTU: true, Baud: 38400})
	d := newDriver(t, Table{Name: "line", Serial: &Serial{Device: srv.RTU, Baud: 38400, Parity: "none"}, UnitIDs: []uint8{1},
		Timeout: time.Second})
	found, failed := discover(t, d)
	require.Empty(t, failed)
	require.Len(t, found, 1)
	s := found[0]
	require.Equal(t, srv.RTU+"?unit=1", s.Address)
	require.Equal(t, "sunspec-inverter", s.Profile)
	require.Equal(t, "3005067415", s.Identity.Serial)
	require.Empty(t, s.Identity.IP)
	rs := poll(t, d, s.Endpoint(), library(t).Get("sunspec-inverter").Points)
	require.InDelta(t, 3680.0, rs["acPowerWatts"].Value.Num, 1e-9)
	require.InDelta(t, 49.99, rs["frequencyHz"].Value.Num, 1e-9)
}
