package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ModbusOptions configure a set of simulated Modbus TCP devices. The zero value of every field is
// usable except N.
type ModbusOptions struct {
	// N is the number of devices, 1..MaxDevices. Even indexes are ACME EM100 energy meters, odd ones
	// ACME SI3600 SunSpec inverters.
	N int
	// Listen and BasePort place the devices as Options does for SNMP devices; Skip leaves the first
	// Skip addresses of the plan to others (the SNMP devices of the same site), so that a prefix gives
	// each Modbus device a host address of its own after them.
	Listen   string
	BasePort int
	Skip     int
	// MaxConns is how many TCP connections a device accepts at once, as small meters allow; further
	// ones are closed at once. Zero means 2.
	MaxConns int
	// Seed makes identities reproducible, as Options.Seed.
	Seed   int64
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ModbusDevice describes one simulated Modbus device as a gateway would learn it.
type ModbusDevice struct {
	Index int
	// Addr is the TCP address; Unit the unit id the device answers (other unit ids get exception 0B,
	// as behind a TCP gateway).
	Addr         netip.AddrPort
	Unit         uint8
	MAC          string // 02:ed:68:xx:xx:xx
	Serial       string // SIM-EM100-nnnnnn, SIM-SI3600-nnnnnn
	Model        string // "EM100" or "SI3600"
	Manufacturer string // "ACME"
	Firmware     string
	Kind         string // "meter" or "inverter"
}

// ModbusSite is a running set of simulated Modbus TCP devices. Its methods are safe for concurrent use.
type ModbusSite struct {
	log     *slog.Logger
	devices []*mbDevice
	wg      sync.WaitGroup
	once    sync.Once
	stop    func() bool
}

// StartModbus listens for every device and serves until ctx is cancelled or Close is called.
func StartModbus(ctx context.Context, opts ModbusOptions) (*ModbusSite, error) {
	if opts.N < 1 || opts.N > MaxDevices {
		return nil, fmt.Errorf("sim: modbus device count %d out of range 1..%d", opts.N, MaxDevices)
	}
	addrs, err := PlanAddrs(opts.Listen, opts.BasePort, opts.Skip+opts.N)
	if err != nil {
		return nil, err
	}
	addrs = addrs[opts.Skip:]
	if !IsPrefix(opts.Listen) && opts.BasePort != 0 {
		// Address mode: ports from BasePort, not after the skipped devices' ports.
		for i := range addrs {
			addrs[i] = netip.AddrPortFrom(addrs[i].Addr(), uint16(opts.BasePort+i))
		}
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 2
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &ModbusSite{log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	start := now()
	for i := range opts.N {
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addrs[i]))
		if err != nil {
			for _, d := range s.devices {
				d.l.Close()
			}
			return nil, fmt.Errorf("sim: modbus device %d: listen tcp %s: %w", i, addrs[i], err)
		}
		d := newMBDevice(i, opts.Seed, now, start, opts.MaxConns)
		d.l = l
		ap := l.Addr().(*net.TCPAddr).AddrPort()
		d.info.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		s.devices = append(s.devices, d)
	}
	for _, d := range s.devices {
		s.wg.Go(func() { d.serve(s.log) })
	}
	s.stop = context.AfterFunc(ctx, func() { s.Close() })
	s.log.Info("modbus site started", "devices", opts.N, "first", s.devices[0].info.Addr.String())
	return s, nil
}

// Close stops every device, closes its listener and connections, and waits. It is idempotent.
func (s *ModbusSite) Close() error {
	s.once.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		for _, d := range s.devices {
			d.close()
		}
		s.wg.Wait()
	})
	return nil
}

// Devices returns every device's identity, in index order.
func (s *ModbusSite) Devices() []ModbusDevice {
	out := make([]ModbusDevice, len(s.devices))
	for i, d := range s.devices {
		out[i] = d.info
	}
	return out
}

// Requests is how many requests the site has answered, exceptions included.
func (s *ModbusSite) Requests() uint64 {
	var n uint64
	for _, d := range s.devices {
		n += d.requests.Load()
	}
	return n
}

// Modbus function codes and exceptions the devices use.
const (
	fcReadCoils      = 0x01
	fcReadDiscrete   = 0x02
	fcReadHolding    = 0x03
	fcReadInput      = 0x04
	fcWriteCoil      = 0x05
	fcWriteRegister  = 0x06
	fcWriteCoils     = 0x0F
	fcWriteRegisters = 0x10
	fcEncapsulated   = 0x2B

	exIllegalFunction = 0x01
	exIllegalAddress  = 0x02
	exIllegalValue    = 0x03
	exNoResponse      = 0x0B

	mbapSize   = 7
	maxPDU     = 253
	idleClose  = 2 * time.Minute
	meterKind  = "meter"
	inverterKd = "inverter"
)

// mbDevice is one simulated Modbus device: a listener, its connections and its registers.
type mbDevice struct {
	info     ModbusDevice
	l        *net.TCPListener
	maxConns int
	now      func() time.Time
	mac      [6]byte
	phase    float64
	requests atomic.Uint64

	mu    sync.Mutex // guards the writable state and conns
	conns map[net.Conn]bool
	// writable state
	boot        time.Time
	energyFrom  time.Time // energy counts from here (resetEnergy)
	energyBase  float64   // Wh at energyFrom
	ctRatio     uint16
	displayMode uint16
	powerLimit  int32
	voltAlarm   float32
	name        [16]byte
	relay       bool
}

func newMBDevice(i int, seed int64, now func() time.Time, start time.Time, maxConns int) *mbDevice {
	sh := mix(uint64(seed) ^ 0x6d6f6462) // "modb": a stream apart from the SNMP devices'
	h := mix(sh ^ mix(uint64(i)))
	low := macLow(seed, i)
	d := &mbDevice{maxConns: maxConns, now: now, conns: map[net.Conn]bool{},
		mac:   [6]byte{0x02, 0xed, 0x68, byte(low >> 16), byte(low >> 8), byte(low)},
		phase: float64(h%6283) / 1000,
		boot:  start.Add(-time.Hour - time.Duration(h>>8%(30*24*3600))*time.Second), energyFrom: start,
		energyBase: float64(h>>16%5_000_000) + 100_000,
		ctRatio:    100, displayMode: 1, powerLimit: 10000, voltAlarm: 253}
	serial := serialNumber(seed, i)
	d.info = ModbusDevice{Index: i, Unit: 1, MAC: net.HardwareAddr(d.mac[:]).String(), Manufacturer: manufacturer}
	if i%2 == 0 {
		d.info.Model, d.info.Firmware, d.info.Kind = "EM100", "2.1.0", meterKind
	} else {
		d.info.Model, d.info.Firmware, d.info.Kind = "SI3600", "1.4.2", inverterKd
	}
	d.info.Serial = fmt.Sprintf("SIM-%s-%06d", d.info.Model, serial)
	copy(d.name[:], fmt.Sprintf("%s-%03d", d.info.Model, i))
	return d
}

func (d *mbDevice) close() {
	d.l.Close()
	d.mu.Lock()
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
}

func (d *mbDevice) serve(log *slog.Logger) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := d.l.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		if len(d.conns) >= d.maxConns {
			d.mu.Unlock()
			log.Debug("modbus connection refused: limit reached", "device", d.info.Addr.String(), "max", d.maxConns)
			c.Close()
			continue
		}
		d.conns[c] = true
		d.mu.Unlock()
		wg.Go(func() {
			defer func() {
				d.mu.Lock()
				delete(d.conns, c)
				d.mu.Unlock()
				c.Close()
			}()
			d.conn(c)
		})
	}
}

// conn serves one connection: one request at a time, as small devices do. A malformed frame closes
// the connection; a connection idle for two minutes is closed.
func (d *mbDevice) conn(c net.Conn) {
	hdr := make([]byte, mbapSize)
	body := make([]byte, 256)
	for {
		c.SetReadDeadline(time.Now().Add(idleClose))
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[4:]))
		if binary.BigEndian.Uint16(hdr[2:]) != 0 || n < 2 || n > maxPDU+1 {
			return // not Modbus TCP: a real device drops the connection
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, body[:n-1]); err != nil {
			return
		}
		resp := d.handle(hdr[6], body[:n-1])
		d.requests.Add(1)
		out := make([]byte, mbapSize+len(resp))
		copy(out, hdr[:4])
		binary.BigEndian.PutUint16(out[4:], uint16(len(resp)+1))
		out[6] = hdr[6]
		copy(out[mbapSize:], resp)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func exception(fc, code byte) []byte { return []byte{fc | 0x80, code} }

// handle answers one request PDU for unit.
func (d *mbDevice) handle(unit byte, pdu []byte) []byte {
	if len(pdu) == 0 {
		return exception(0, exIllegalFunction)
	}
	fc, data := pdu[0], pdu[1:]
	if unit != d.info.Unit && unit != 0xFF {
		return exception(fc, exNoResponse)
	}
	u16 := func(i int) int { return int(binary.BigEndian.Uint16(data[i:])) }
	switch fc {
	case fcReadHolding, fcReadInput:
		if len(data) != 4 {
			return exception(fc, exIllegalValue)
		}
		addr, n := u16(0), u16(2)
		if n < 1 || n > 125 {
			return exception(fc, exIllegalValue)
		}
		resp := []byte{fc, byte(2 * n)}
		for a := addr; a < addr+n; a++ {
			w, ok := d.register(fc == fcReadInput, a)
			if !ok {
				return exception(fc, exIllegalAddress)
			}
			resp = binary.BigEndian.AppendUint16(resp, w)
		}
		return resp
	case fcReadCoils, fcReadDiscrete:
		if len(data) != 4 {
			return exception(fc, exIllegalValue)
		}
		addr, n := u16(0), u16(2)
		if n < 1 || n > 2000 {
			return exception(fc, exIllegalValue)
		}
		resp := make([]byte, 2+(n+7)/8)
		resp[0], resp[1] = fc, byte((n+7)/8)
		for i := range n {
			b, ok := d.bit(fc == fcReadDiscrete, addr+i)
			if !ok {
				return exception(fc, exIllegalAddress)
			}
			if b {
				resp[2+i/8] |= 1 << (i % 8)
			}
		}
		return resp
	case fcWriteCoil:
		if len(data) != 4 || (u16(2) != 0xFF00 && u16(2) != 0) {
			return exception(fc, exIllegalValue)
		}
		if ex := d.writeCoil(u16(0), u16(2) == 0xFF00); ex != 0 {
			return exception(fc, ex)
		}
		return pdu
	case fcWriteCoils:
		if len(data) < 5 || u16(2) < 1 || u16(2) > 1968 || int(data[4]) != (u16(2)+7)/8 || len(data) != 5+int(data[4]) {
			return exception(fc, exIllegalValue)
		}
		for i := range u16(2) {
			if ex := d.writeCoil(u16(0)+i, data[5+i/8]>>(i%8)&1 == 1); ex != 0 {
				return exception(fc, ex)
			}
		}
		return pdu[:5]
	case fcWriteRegister:
		if len(data) != 4 {
			return exception(fc, exIllegalValue)
		}
		if ex := d.writeRegisters(u16(0), []uint16{uint16(u16(2))}); ex != 0 {
			return exception(fc, ex)
		}
		return pdu
	case fcWriteRegisters:
		if len(data) < 5 || u16(2) < 1 || u16(2) > 123 || int(data[4]) != 2*u16(2) || len(data) != 5+int(data[4]) {
			return exception(fc, exIllegalValue)
		}
		words := make([]uint16, u16(2))
		for i := range words {
			words[i] = binary.BigEndian.Uint16(data[5+2*i:])
		}
		if ex := d.writeRegisters(u16(0), words); ex != 0 {
			return exception(fc, ex)
		}
		return pdu[:5]
	case fcEncapsulated:
		return d.deviceID(data)
	}
	return exception(fc, exIllegalFunction)
}

// deviceID answers Read Device Identification (MEI 0x0E): read codes 1 basic, 2 regular, 3 extended
// (the same: there are no extended objects), 4 one object. Only the EM100 supports it.
func (d *mbDevice) deviceID(data []byte) []byte {
	if d.info.Kind != meterKind {
		return exception(fcEncapsulated, exIllegalFunction)
	}
	if len(data) != 3 || data[0] != 0x0E || data[1] < 1 || data[1] > 4 {
		return exception(fcEncapsulated, exIllegalValue)
	}
	objs := []string{d.info.Manufacturer, d.info.Model, d.info.Firmware, "http://acme.example/em100", "EM100 Energy Meter", "EM100-3P"}
	code, first := data[1], int(data[2])
	last := 2
	if code >= 2 {
		last = len(objs) - 1
	}
	if code == 4 {
		if first >= len(objs) {
			return exception(fcEncapsulated, exIllegalAddress)
		}
		last = first
	} else if first > last {
		first = 0 // out of range: start again at the first object, as the specification says
	}
	resp := []byte{fcEncapsulated, 0x0E, code, 0x82, 0, 0, 0}
	for id := first; id <= last; id++ {
		if len(resp)+2+len(objs[id]) > maxPDU {
			resp[4], resp[5] = 0xFF, byte(id) // more follows, from object id
			break
		}
		resp = append(resp, byte(id), byte(len(objs[id])))
		resp = append(resp, objs[id]...)
		resp[6]++
	}
	return resp
}

// t is seconds since the site started, for the drifting values.
func (d *mbDevice) t() float64 { return d.now().Sub(d.energyFrom).Seconds() }

func (d *mbDevice) volts() float64 {
	return 230 + 3*math.Sin(d.phase+d.now().Sub(d.boot).Seconds()/300)
}
func (d *mbDevice) amps() float64 { return 5 + 2*math.Sin(d.phase+d.now().Sub(d.boot).Seconds()/120) }

// energy is Wh since the counter was last reset, growing at about the mean power.
func (d *mbDevice) energy() float64 { return d.energyBase + 1150*d.now().Sub(d.energyFrom).Hours() }

// register returns one register's word; ok is false for an address outside the map.
func (d *mbDevice) register(input bool, a int) (uint16, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.info.Kind == inverterKd {
		if input {
			return 0, false
		}
		return d.sunspec(a)
	}
	f32 := func(v float64, i int) uint16 {
		b := math.Float32bits(float32(v))
		return uint16(b >> (16 * (1 - i)))
	}
	if input {
		switch {
		case a < 2:
			return f32(d.volts(), a), true
		case a < 4:
			return f32(d.amps(), a-2), true
		case a < 6:
			return f32(d.volts()*d.amps(), a-4), true
		case a < 10:
			return uint16(uint64(d.energy()) >> (16 * (9 - a))), true
		case a == 10:
			return uint16(int16(250 + 30*math.Sin(d.phase+d.t()/600))), true
		case a == 11:
			return uint16(5000 + 5*math.Sin(d.phase+d.t()/60)), true
		case a < 14: // uptime, low word first
			up := uint32(d.now().Sub(d.boot).Seconds())
			return uint16(up >> (16 * (a - 12))), true
		}
		return 0, false
	}
	switch {
	case a == 0:
		return d.ctRatio, true
	case a == 1:
		return d.displayMode, true
	case a < 4:
		return uint16(uint32(d.powerLimit) >> (16 * (3 - a))), true
	case a < 6:
		return f32(float64(d.voltAlarm), a-4), true
	case a >= 8 && a < 16:
		return uint16(d.name[2*(a-8)])<<8 | uint16(d.name[2*(a-8)+1]), true
	case a == 20:
		return 0, true // reboot: write 1
	case a >= 100 && a < 108:
		return textWord(d.info.Serial, a-100), true
	case a >= 110 && a < 113:
		return uint16(d.mac[2*(a-110)])<<8 | uint16(d.mac[2*(a-110)+1]), true
	}
	return 0, false // holes: 6..7, 16..19, 21..99, 108..109, 113..
}

func textWord(s string, i int) uint16 {
	var b [2]byte
	if 2*i < len(s) {
		b[0] = s[2*i]
	}
	if 2*i+1 < len(s) {
		b[1] = s[2*i+1]
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

// SunSpec map of the inverter: "SunS" at 40000, then models 1 (common), 11 (Ethernet) and 101
// (single-phase inverter), then the end marker.
const (
	ssBase     = 40000
	ssCommon   = ssBase + 4   // model 1 data, 66 registers
	ssEthernet = ssBase + 72  // model 11 data, 13 registers
	ssInverter = ssBase + 87  // model 101 data, 50 registers
	ssEnd      = ssBase + 137 // 0xFFFF 0x0000
)

func (d *mbDevice) sunspec(a int) (uint16, bool) {
	switch {
	case a == ssBase:
		return 0x5375, true // "Su"
	case a == ssBase+1:
		return 0x6E53, true // "nS"
	case a == ssCommon-2:
		return 1, true
	case a == ssCommon-1:
		return 66, true
	case a >= ssCommon && a < ssCommon+66:
		o := a - ssCommon
		switch {
		case o < 16:
			return textWord(d.info.Manufacturer, o), true
		case o < 32:
			return textWord(d.info.Model, o-16), true
		case o < 40:
			return 0, true // Opt
		case o < 48:
			return textWord(d.info.Firmware, o-40), true
		case o < 64:
			return textWord(d.info.Serial, o-48), true
		case o == 64:
			return uint16(d.info.Unit), true
		}
		return 0x8000, true // pad
	case a == ssEthernet-2:
		return 11, true
	case a == ssEthernet-1:
		return 13, true
	case a >= ssEthernet && a < ssEthernet+13:
		o := a - ssEthernet
		switch {
		case o == 0:
			return 100, true // Spd, Mb/s
		case o == 1:
			return 1, true // CfgSt
		case o == 2:
			return 1, true // St: enabled
		case o == 3:
			return 0, true // EUI-48 in four registers, two zero bytes first
		case o < 7:
			return uint16(d.mac[2*(o-4)])<<8 | uint16(d.mac[2*(o-4)+1]), true
		case o < 11:
			return textWord("eth0", o-7), true
		}
		return 0, true
	case a == ssInverter-2:
		return 101, true
	case a == ssInverter-1:
		return 50, true
	case a >= ssInverter && a < ssInverter+50:
		return d.inverter(a - ssInverter), true
	case a == ssEnd:
		return 0xFFFF, true
	case a == ssEnd+1:
		return 0, true
	}
	return 0, false
}

// inverter is model 101's register at offset o: a sunny afternoon, scaled by the model's sunssf
// registers; unused phases and DC fields read as not implemented.
func (d *mbDevice) inverter(o int) uint16 {
	amps := d.amps() * 3 // 9..21 A
	volts := d.volts()
	watts := amps * volts
	sf := map[int]int16{4: -2, 11: -1, 13: 0, 15: -2, 17: 0, 19: 0, 21: -3, 24: 0, 26: -2, 28: -1, 30: 0, 35: -1}
	if s, ok := sf[o]; ok {
		return uint16(s)
	}
	switch o {
	case 0, 1: // A, AphA, centiamps
		return uint16(amps * 100)
	case 2, 3, 5, 6, 7, 9, 10, 32, 33, 34: // other phases, line-to-line voltages, other temperatures
		if o >= 32 {
			return 0x8000
		}
		return 0xFFFF
	case 8: // PhVphA, decivolts
		return uint16(volts * 10)
	case 12: // W
		return uint16(int16(watts))
	case 14: // Hz, centihertz
		return uint16(5000 + 5*math.Sin(d.phase+d.t()/60))
	case 16: // VA
		return uint16(int16(watts * 1.01))
	case 18: // VAr
		return uint16(int16(watts * 0.05))
	case 20: // PF, thousandths
		return uint16(int16(990))
	case 22, 23: // WH, acc32
		return uint16(uint32(d.energy()*3) >> (16 * (23 - o)))
	case 25: // DCA
		return uint16(amps * 104)
	case 27: // DCV, decivolts
		return uint16(3600)
	case 29: // DCW
		return uint16(int16(watts * 1.03))
	case 31: // TmpCab, tenths
		return uint16(int16(350 + 50*math.Sin(d.phase+d.t()/900)))
	case 36: // St: MPPT
		return 4
	}
	return 0 // StVnd, events
}

// bit returns one coil or discrete input.
func (d *mbDevice) bit(discrete bool, a int) (bool, bool) {
	if d.info.Kind != meterKind {
		return false, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case discrete && a == 0:
		return false, true // tamper alarm: never
	case !discrete && a == 0:
		return d.relay, true
	case !discrete && a == 1:
		return false, true // resetEnergy: write 1
	}
	return false, false
}

func (d *mbDevice) writeCoil(a int, v bool) byte {
	if d.info.Kind != meterKind {
		return exIllegalAddress
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch a {
	case 0:
		d.relay = v
	case 1:
		if v {
			d.energyFrom, d.energyBase = d.now(), 0
		}
	default:
		return exIllegalAddress
	}
	return 0
}

// writeRegisters writes holding registers from a: settings in range, whole (a two-register setting
// in one request). A request with one bad register changes nothing.
func (d *mbDevice) writeRegisters(a int, w []uint16) byte {
	if d.info.Kind != meterKind {
		return exIllegalAddress // the inverter's map is read-only here
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	before := settings{d.boot, d.ctRatio, d.displayMode, d.powerLimit, d.voltAlarm, d.name}
	if ex := d.applyRegisters(a, w); ex != 0 {
		d.boot, d.ctRatio, d.displayMode, d.powerLimit, d.voltAlarm, d.name =
			before.boot, before.ctRatio, before.displayMode, before.powerLimit, before.voltAlarm, before.name
		return ex
	}
	return 0
}

// settings are the meter's writable holding registers, saved so a refused request can be undone.
type settings struct {
	boot        time.Time
	ctRatio     uint16
	displayMode uint16
	powerLimit  int32
	voltAlarm   float32
	name        [16]byte
}

// applyRegisters writes register by register; d.mu is held.
func (d *mbDevice) applyRegisters(a int, w []uint16) byte {
	end := a + len(w)
	for i := 0; i < len(w); {
		r := a + i
		switch {
		case r == 0:
			if w[i] < 1 || w[i] > 5000 {
				return exIllegalValue
			}
			d.ctRatio = w[i]
			i++
		case r == 1:
			if w[i] > 2 {
				return exIllegalValue
			}
			d.displayMode = w[i]
			i++
		case (r == 2 || r == 4) && end < r+2:
			return exIllegalValue // half of a two-register setting
		case r == 2:
			v := int32(uint32(w[i])<<16 | uint32(w[i+1]))
			if v < -100000 || v > 100000 {
				return exIllegalValue
			}
			d.powerLimit = v
			i += 2
		case r == 4:
			v := math.Float32frombits(uint32(w[i])<<16 | uint32(w[i+1]))
			if !(v >= 0 && v <= 500) {
				return exIllegalValue
			}
			d.voltAlarm = v
			i += 2
		case r >= 8 && r < 16:
			d.name[2*(r-8)], d.name[2*(r-8)+1] = byte(w[i]>>8), byte(w[i])
			i++
		case r == 20:
			if w[i] != 1 {
				return exIllegalValue
			}
			d.boot = d.now()
			i++
		case r == 3 || r == 5:
			return exIllegalValue // half of a two-register setting
		default:
			return exIllegalAddress
		}
	}
	return 0
}
