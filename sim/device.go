package sim

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// readBufSize bounds a request datagram. SNMP requests are small (a
	// 60-OID v3 GET is ~2.5 KB); larger ones are dropped. Each device's
	// reader holds one such buffer, so it is what N costs in memory.
	readBufSize = 4096
	// maxUDPPayload is the largest UDP datagram over IPv4.
	maxUDPPayload = 65507
	// maxPendingSlow bounds the delayed answers of a Slow device.
	maxPendingSlow = 64
)

// device is one simulated agent. Its reader goroutine is the only one that
// handles its requests; mu guards the writable objects against Devices-style
// readers and delayed replies.
type device struct {
	site         *Site
	info         Device
	kind         int
	mac          [6]byte
	engineID     string
	boots        uint32
	uptimeOffset time.Duration
	tempOffset   int
	phase        float64
	lampBase     uint32
	counterBase  [4]uint64
	conn         *net.UDPConn
	rng          *rand.Rand // reader goroutine only
	fault        atomic.Pointer[Fault]
	pending      atomic.Int32
	salt         atomic.Uint64
	keys         []usmKeys // one per site user, localized on first use
	usmStats     [usmStatCount]atomic.Uint32

	mu                               sync.Mutex
	sysName, sysLocation, sysContact string
	power, input, backlight          int
	// restarts counts SETs of the restart object; sysUpTime counts from restartedAt after the first.
	// The v3 engine time keeps running: a reboot that reset it would need engine boots to move too.
	restarts    int
	restartedAt time.Duration
	// onBattery is a UPS on battery since onBatterySince (elapsed), after it sent TrapOnBattery.
	onBattery      bool
	onBatterySince time.Duration

	// informs are the informs waiting for an acknowledgement, by request id (traps.go).
	informs sync.Map
}

// restart is the restart object's SET: the device "reboots" (sysUpTime starts again from zero).
func (d *device) restart(int) {
	d.restarts++
	d.restartedAt = d.elapsed()
}

// seedBlock is how many devices one seed owns in the MAC and serial spaces: more than MaxDevices, so
// seeds that differ modulo seedBlocks never give two devices the same MAC or serial.
const (
	seedBlock  = 1 << 17
	seedBlocks = 1 << 24 / seedBlock // 128
)

// macLow is the low 24 bits of device i's MAC: its place in its seed's block of the 24-bit space,
// scrambled by a bijection (an odd multiplier, then an xor) so neighbours do not get neighbouring MACs.
func macLow(seed int64, i int) uint32 {
	v := uint32(uint64(seed)%seedBlocks)*seedBlock + uint32(i)
	return (v*0x9E3779B1 ^ 0x5A5A5A) & 0xFFFFFF
}

// serialNumber is the number in device i's serial: unique per seed block, as macLow.
func serialNumber(seed int64, i int) uint64 {
	return uint64(seed)%seedBlocks*seedBlock + uint64(i)
}

// mix is SplitMix64's finalizer: a cheap, well-spread hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func newDevice(s *Site, i int, seed int64) *device {
	sh := mix(uint64(seed))
	h := mix(sh ^ mix(uint64(i)))
	k := i % len(kinds)
	spec := &kinds[k]
	low := macLow(seed, i)
	d := &device{
		site:         s,
		kind:         k,
		mac:          [6]byte{0x02, 0xed, 0x67, byte(low >> 16), byte(low >> 8), byte(low)},
		boots:        1,
		uptimeOffset: time.Hour + time.Duration(h%(30*24*3600))*time.Second,
		tempOffset:   int(h>>8%31) - 15,
		phase:        float64(h>>16%6283) / 1000,
		lampBase:     500 + uint32(h>>24%4000),
		rng:          rand.New(rand.NewPCG(uint64(seed), uint64(i))),
		keys:         make([]usmKeys, len(s.users)),
		sysContact:   "facilities@sim.example",
		sysLocation:  fmt.Sprintf("Sim site, room %03d", i),
		power:        1,
		input:        1,
		backlight:    80,
	}
	for j := range d.counterBase {
		d.counterBase[j] = mix(h + uint64(j))
	}
	d.salt.Store(mix(h ^ 0x5a17))
	d.engineID = string(append([]byte{0x80, 0x01, 0x86, 0x9f, 0x03}, d.mac[:]...))
	serial := serialNumber(seed, i)
	d.info = Device{
		Index:        i,
		MAC:          net.HardwareAddr(d.mac[:]).String(),
		Serial:       fmt.Sprintf("SIM-%s-%06d", spec.model, serial),
		Model:        spec.model,
		ModelName:    spec.modelName,
		Manufacturer: manufacturer,
		Firmware:     spec.firmware,
		Kind:         spec.name,
		SysObjectID:  spec.objectID,
		SysDescr:     spec.modelName + " Firmware " + spec.firmware,
		Hostname:     fmt.Sprintf("sim-%s-%03d", spec.name, i),
		EngineID:     hex.EncodeToString([]byte(d.engineID)),
	}
	d.sysName = d.info.Hostname
	return d
}

func (d *device) loadFault() Fault {
	if f := d.fault.Load(); f != nil {
		return *f
	}
	return None
}

func (d *device) faultMode() faultMode { return d.loadFault().mode }

// serve reads requests until the socket is closed.
func (d *device) serve() {
	defer d.site.wg.Done()
	s := d.site
	buf := make([]byte, readBufSize)
	for errs := 0; errs < 100; {
		n, from, err := d.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			errs++
			s.log.Debug("snmp read failed", "target", d.info.Addr.String(), "err", err)
			continue
		}
		errs = 0
		s.received.Add(1)
		if !from.Addr().Unmap().IsLoopback() || n == len(buf) {
			s.dropped.Add(1)
			continue
		}
		d.handle(buf[:n], from)
	}
	s.log.Warn("snmp device stopped after repeated read errors", "target", d.info.Addr.String())
}

func (d *device) handle(req []byte, from netip.AddrPort) {
	s := d.site
	// A decoder panic on a hostile datagram must not take the site down.
	defer func() {
		if r := recover(); r != nil {
			s.malformed.Add(1)
			s.log.Debug("snmp request crashed the decoder", "target", d.info.Addr.String(), "panic", r)
		}
	}()
	f := d.loadFault()
	switch f.mode {
	case faultSilent:
		s.dropped.Add(1)
		return
	case faultGarbage:
		out := make([]byte, 1+d.rng.IntN(200))
		for i := range out {
			out[i] = byte(d.rng.Uint32())
		}
		d.send(out, from)
		return
	}
	out := d.respond(req, f.mode)
	if out == nil {
		return
	}
	if f.mode == faultSlow {
		d.later(out, from, f.delay)
		return
	}
	d.send(out, from)
}

func (d *device) send(out []byte, to netip.AddrPort) {
	if !to.Addr().Unmap().IsLoopback() {
		return // never talk to anything but loopback
	}
	var err error
	if sc := d.site.shared; sc != nil {
		err = sc.write(out, d.info.Addr.Addr(), to)
	} else {
		_, err = d.conn.WriteToUDPAddrPort(out, to)
	}
	if err != nil {
		d.site.log.Debug("snmp write failed", "target", d.info.Addr.String(), "err", err)
		return
	}
	d.site.answered.Add(1)
}

// later sends out after delay unless the site closes first.
func (d *device) later(out []byte, to netip.AddrPort, delay time.Duration) {
	s := d.site
	if d.pending.Add(1) > maxPendingSlow {
		d.pending.Add(-1)
		s.dropped.Add(1)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer d.pending.Add(-1)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
		case <-t.C:
			d.send(out, to)
		}
	}()
}

// elapsed is the time since the site started, by the site's clock.
func (d *device) elapsed() time.Duration {
	el := d.site.now().Sub(d.site.start)
	if el < 0 {
		return 0
	}
	return el
}
