package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"
)

// Traps: a simulated device sends SNMPv2c traps, or informs it sends again until they are
// acknowledged, from its own address and port, so a gateway finds it by its endpoint. A UPS that
// reports going on battery is on battery (upsOutputSource battery, upsSecondsOnBattery counting)
// until it reports the power back.

// Trap is a notification a simulated device can send.
type Trap int

// The traps.
const (
	// TrapColdStart is SNMPv2-MIB coldStart.
	TrapColdStart Trap = iota
	// TrapLinkDown and TrapLinkUp are IF-MIB linkDown / linkUp of eth0 (ifIndex 2).
	TrapLinkDown
	TrapLinkUp
	// TrapOnBattery is UPS-MIB upsTrapOnBattery (UPS only): the UPS goes on battery.
	TrapOnBattery
	// TrapPowerRestored is UPS-MIB upsTrapAlarmEntryRemoved of upsAlarmOnBattery (UPS only): the UPS
	// is back on utility power.
	TrapPowerRestored
)

func (t Trap) String() string {
	switch t {
	case TrapColdStart:
		return "coldStart"
	case TrapLinkDown:
		return "linkDown"
	case TrapLinkUp:
		return "linkUp"
	case TrapOnBattery:
		return "onBattery"
	case TrapPowerRestored:
		return "powerRestored"
	}
	return fmt.Sprintf("trap(%d)", int(t))
}

// OIDs of the traps and their varbinds.
const (
	oidTrapOID        = ".1.3.6.1.6.3.1.1.4.1.0"
	oidColdStart      = ".1.3.6.1.6.3.1.1.5.1"
	oidLinkDown       = ".1.3.6.1.6.3.1.1.5.3"
	oidLinkUp         = ".1.3.6.1.6.3.1.1.5.4"
	oidUpsOnBattery   = ".1.3.6.1.2.1.33.2.1"
	oidUpsAlarmRemove = ".1.3.6.1.2.1.33.2.4"
	oidUpsAlarmOnBatt = ".1.3.6.1.2.1.33.1.6.3.2"
)

// Inform retransmission: how long to wait for an acknowledgement, and how often to send.
const (
	informTimeout = time.Second
	informTries   = 3
)

// ErrNotAcknowledged is returned by SendTrap for an inform no acknowledgement came for.
var ErrNotAcknowledged = errors.New("inform not acknowledged")

// SendTrap makes device i send t to the loopback address to: a v2c trap, or with inform an inform
// sent up to three times until acknowledged. Going on battery and back changes what the UPS answers
// from then on. It refuses a trap the device's kind cannot send and any address but loopback.
func (s *Site) SendTrap(ctx context.Context, i int, t Trap, to netip.AddrPort, inform bool) error {
	if !to.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("sim: traps go to loopback only, not %s", to)
	}
	d := s.devices[i]
	vbs, err := d.trap(t)
	if err != nil {
		return err
	}
	pdu := gosnmp.SNMPv2Trap
	if inform {
		pdu = gosnmp.InformRequest
	}
	reqID := rand.Uint32() & 0x7fffffff
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: s.ro, PDUType: pdu, RequestID: reqID, Variables: vbs}
	b, err := p.MarshalMsg()
	if err != nil {
		return fmt.Errorf("sim: device %d: encode %s: %w", i, t, err)
	}
	if !inform {
		d.send(b, to)
		return nil
	}
	ack := d.expectAck(reqID)
	defer d.informs.Delete(reqID)
	for range informTries {
		d.send(b, to)
		timer := time.NewTimer(informTimeout)
		select {
		case <-ack:
			timer.Stop()
			return nil
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	return fmt.Errorf("sim: device %d: %s to %s: %w", i, t, to, ErrNotAcknowledged)
}

// trap builds the varbinds of t and applies what it means to the device.
func (d *device) trap(t Trap) ([]gosnmp.SnmpPDU, error) {
	el := d.elapsed()
	d.mu.Lock()
	defer d.mu.Unlock()
	up := uint32((d.uptimeOffset + el).Milliseconds() / 10)
	vbs := []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: up}}
	trapOID := func(o string) {
		vbs = append(vbs, gosnmp.SnmpPDU{Name: oidTrapOID, Type: gosnmp.ObjectIdentifier, Value: o})
	}
	ifVars := func(oper int) {
		vbs = append(vbs,
			gosnmp.SnmpPDU{Name: ifPrefix + ".1.2", Type: gosnmp.Integer, Value: 2},
			gosnmp.SnmpPDU{Name: ifPrefix + ".7.2", Type: gosnmp.Integer, Value: 1},
			gosnmp.SnmpPDU{Name: ifPrefix + ".8.2", Type: gosnmp.Integer, Value: oper})
	}
	switch t {
	case TrapColdStart:
		trapOID(oidColdStart)
	case TrapLinkDown:
		trapOID(oidLinkDown)
		ifVars(2)
	case TrapLinkUp:
		trapOID(oidLinkUp)
		ifVars(1)
	case TrapOnBattery, TrapPowerRestored:
		if d.kind != kindUPS {
			return nil, fmt.Errorf("sim: device %d is a %s, not a UPS: it sends no %s", d.info.Index, d.info.Kind, t)
		}
		if t == TrapOnBattery {
			if !d.onBattery {
				d.onBattery, d.onBatterySince = true, el
			}
			trapOID(oidUpsOnBattery)
			vbs = append(vbs,
				gosnmp.SnmpPDU{Name: upsPrefix + ".2.3.0", Type: gosnmp.Integer, Value: d.charge(el) * 45 / 100},
				gosnmp.SnmpPDU{Name: upsPrefix + ".2.2.0", Type: gosnmp.Integer, Value: d.secondsOnBattery(el)},
				gosnmp.SnmpPDU{Name: upsPrefix + ".9.7.0", Type: gosnmp.Integer, Value: 2})
		} else {
			d.onBattery = false
			trapOID(oidUpsAlarmRemove)
			vbs = append(vbs,
				gosnmp.SnmpPDU{Name: upsPrefix + ".6.2.1.1.1", Type: gosnmp.Integer, Value: 1},
				gosnmp.SnmpPDU{Name: upsPrefix + ".6.2.1.2.1", Type: gosnmp.ObjectIdentifier, Value: oidUpsAlarmOnBatt})
		}
	default:
		return nil, fmt.Errorf("sim: unknown trap %d", int(t))
	}
	return vbs, nil
}

// secondsOnBattery is upsSecondsOnBattery: 0 on utility power. Called with d.mu held.
func (d *device) secondsOnBattery(el time.Duration) int {
	if !d.onBattery {
		return 0
	}
	return int((el - d.onBatterySince) / time.Second)
}

// expectAck registers an inform's request id; the channel is closed when its acknowledgement comes.
func (d *device) expectAck(reqID uint32) chan struct{} {
	ch := make(chan struct{})
	d.informs.Store(reqID, ch)
	return ch
}

// acknowledged takes a Response to an inform the device sent; false when it is none of those.
func (d *device) acknowledged(reqID uint32) bool {
	v, ok := d.informs.LoadAndDelete(reqID)
	if !ok {
		return false
	}
	close(v.(chan struct{}))
	return true
}

// TrapOptions say what RunTraps sends.
type TrapOptions struct {
	// To is the receiver, a loopback address ("127.0.0.1:10162").
	To netip.AddrPort
	// Rate is traps per second, all devices together; 0.01..1000.
	Rate float64
	// Inform sends informs (sent again until acknowledged) instead of traps.
	Inform bool
}

// RunTraps sends traps until ctx ends, Rate a second, the devices in turn: a UPS alternates going on
// battery and back, a display or projector its link down and up. It returns ctx's error, or the first
// failure to send.
func (s *Site) RunTraps(ctx context.Context, o TrapOptions) error {
	if !o.To.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("sim: traps go to loopback only, not %s", o.To)
	}
	if o.Rate < 0.01 || o.Rate > 1000 {
		return fmt.Errorf("sim: trap rate %v out of range 0.01..1000 a second", o.Rate)
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	step := make([]int, len(s.devices))
	var wg sync.WaitGroup
	defer wg.Wait()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		i := n % len(s.devices)
		down := step[i]%2 == 0
		step[i]++
		var t Trap
		switch {
		case s.devices[i].kind == kindUPS && down:
			t = TrapOnBattery
		case s.devices[i].kind == kindUPS:
			t = TrapPowerRestored
		case down:
			t = TrapLinkDown
		default:
			t = TrapLinkUp
		}
		if !o.Inform {
			if err := s.SendTrap(ctx, i, t, o.To, false); err != nil {
				return err
			}
			continue
		}
		wg.Go(func() { // an inform waits for its acknowledgement; the next one does not wait for it
			if err := s.SendTrap(ctx, i, t, o.To, true); err != nil && ctx.Err() == nil {
				s.log.Warn("inform not acknowledged", "device", s.devices[i].info.Addr.String(), "trap", t.String(), "to", o.To.String())
			}
		})
	}
}
