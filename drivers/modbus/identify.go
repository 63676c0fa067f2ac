package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goburrow/modbus"

	"github.com/edgegw/edgegw/gateway"
)

// Read Device Identification (function 43, MEI type 14) object ids.
const (
	objVendorName  = 0x00
	objProductCode = 0x01
	objRevision    = 0x02
	objVendorURL   = 0x03
	objProductName = 0x04
	objModelName   = 0x05
)

const (
	fcEncapsulated = 0x2B
	meiDeviceID    = 0x0E
	maxIDRequests  = 16 // "more follows" rounds per read device id code, against a device that loops
)

// readDeviceID asks a unit for its basic and regular identification objects. goburrow has no helper
// for function 43, so the request goes through the handler as a raw PDU. A unit that does not support
// it answers an exception (usually 01), returned as *Exception.
func readDeviceID(c modbus.Client, h handler) (map[byte]string, error) {
	objs := map[byte]string{}
	for _, code := range []byte{1, 2} { // basic, regular
		next := byte(0)
		if code == 2 {
			next = objVendorURL
		}
		for range maxIDRequests {
			d, err := rawPDU(h, fcEncapsulated, []byte{meiDeviceID, code, next})
			if err != nil {
				if code == 2 && len(objs) > 0 {
					return objs, nil // basic conformity only
				}
				return objs, err
			}
			more, nextID, err := parseDeviceID(d, objs)
			if err != nil {
				return objs, err
			}
			if !more {
				break
			}
			next = nextID
		}
	}
	return objs, nil
}

// parseDeviceID reads one function 43/14 response: MEI, read code, conformity, more follows, next
// object id, number of objects, then {id, length, value} per object.
func parseDeviceID(d []byte, objs map[byte]string) (more bool, next byte, err error) {
	if len(d) < 6 || d[0] != meiDeviceID {
		return false, 0, fmt.Errorf("read device identification: short or foreign response % x", truncBytes(d))
	}
	more, next = d[3] == 0xFF, d[4]
	p := 6
	for i := 0; i < int(d[5]); i++ {
		if p+2 > len(d) || p+2+int(d[p+1]) > len(d) {
			return false, 0, fmt.Errorf("read device identification: object %d runs past the response", i)
		}
		id, l := d[p], int(d[p+1])
		if _, dup := objs[id]; !dup {
			if s, ok := text(d[p+2 : p+2+l]); ok {
				objs[id] = s
			}
		}
		p += 2 + l
	}
	return more, next, nil
}

// rawPDU sends one request PDU through the handler and returns the response's data. An exception
// response becomes *Exception.
func rawPDU(h handler, fc byte, data []byte) ([]byte, error) {
	req := &modbus.ProtocolDataUnit{FunctionCode: fc, Data: data}
	adu, err := h.Encode(req)
	if err != nil {
		return nil, err
	}
	resp, err := h.Send(adu)
	if err != nil {
		return nil, err
	}
	if err := h.Verify(adu, resp); err != nil {
		return nil, err
	}
	pdu, err := h.Decode(resp)
	if err != nil {
		return nil, err
	}
	if pdu.FunctionCode == fc|exceptionFunctionBit && len(pdu.Data) > 0 {
		return nil, &Exception{Function: fc, Code: pdu.Data[0]}
	}
	if pdu.FunctionCode != fc {
		return nil, fmt.Errorf("response to function %02X has function %02X", fc, pdu.FunctionCode)
	}
	return pdu.Data, nil
}

// SunSpec: the map starts with "SunS" at one of these holding registers, then models follow as
// {ID, L, L registers of data} until ID 0xFFFF.
var (
	sunspecBases    = []uint16{40000, 0, 50000}
	sunspecMarker   = [2]uint16{0x5375, 0x6E53} // "SunS"
	maxSunSpecModel = 128
)

// walkSunSpec finds a unit's SunSpec models; nil when it has no SunSpec map.
func (d *Driver) walkSunSpec(ctx context.Context, u *unit) (map[int]uint16, error) {
	var base uint16
	found := false
	for _, b := range sunspecBases {
		w, err := d.readWords(ctx, u, TableHolding, b, 2)
		if err != nil {
			var ex *Exception
			if errors.As(err, &ex) {
				continue // no register there
			}
			return nil, err
		}
		if w[0] == sunspecMarker[0] && w[1] == sunspecMarker[1] {
			base, found = b, true
			break
		}
	}
	if !found {
		return nil, nil
	}
	models := map[int]uint16{}
	addr := int(base) + 2
	for range maxSunSpecModel {
		if addr+1 > 65535 {
			break
		}
		w, err := d.readWords(ctx, u, TableHolding, uint16(addr), 2)
		if err != nil {
			var ex *Exception
			if errors.As(err, &ex) && len(models) > 0 {
				break // a map that ends without its end marker
			}
			return nil, fmt.Errorf("SunSpec model list at %d: %w", addr, err)
		}
		id, l := int(w[0]), int(w[1])
		if id == 0xFFFF || id == 0 {
			break
		}
		if _, dup := models[id]; !dup {
			models[id] = uint16(addr + 2)
		}
		addr += 2 + l
	}
	return models, nil
}

// readWords reads n registers (or bits, as 0/1 words) of one table in one request.
func (d *Driver) readWords(ctx context.Context, u *unit, table string, addr uint16, n int) ([]uint16, error) {
	var out []uint16
	err := u.bus.do(ctx, u.id, u.timeout, true, func(c modbus.Client, _ handler) error {
		var b []byte
		var err error
		switch table {
		case TableHolding:
			b, err = c.ReadHoldingRegisters(addr, uint16(n))
		case TableInput:
			b, err = c.ReadInputRegisters(addr, uint16(n))
		case TableCoil:
			b, err = c.ReadCoils(addr, uint16(n))
		case TableDiscrete:
			b, err = c.ReadDiscreteInputs(addr, uint16(n))
		default:
			return fmt.Errorf("unknown register table %q", table)
		}
		if err != nil {
			return err
		}
		out, err = words(table, b, n)
		return err
	})
	if err != nil {
		return nil, u.errorf(err, "read %s %d+%d", table, addr, n)
	}
	return out, nil
}

// words turns a read response's bytes into n words: registers big-endian, bits LSB first as 0/1.
func words(table string, b []byte, n int) ([]uint16, error) {
	out := make([]uint16, n)
	if table == TableCoil || table == TableDiscrete {
		if len(b) < (n+7)/8 {
			return nil, fmt.Errorf("response holds %d bytes for %d bits", len(b), n)
		}
		for i := range out {
			out[i] = uint16(b[i/8] >> (i % 8) & 1)
		}
		return out, nil
	}
	if len(b) != 2*n {
		return nil, fmt.Errorf("response holds %d bytes for %d registers", len(b), n)
	}
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out, nil
}

// identify reads one unit's identity: Read Device Identification, the SunSpec common model, then the
// identity registers of the profile that fits. ok is false when nobody answers at that unit id.
func (d *Driver) identify(ctx context.Context, t *Table, u *unit) (s gateway.Sighting, ok bool, err error) {
	s = gateway.Sighting{Protocol: Protocol, Address: u.addr, Credential: t.Name, Seen: time.Now()}
	if ap, err := netip.ParseAddrPort(u.bus.key); err == nil {
		s.Identity.IP = ap.Addr().Unmap().String()
	} else if host, _, err := net.SplitHostPort(u.bus.key); err == nil && !u.bus.rtu {
		s.Identity.IP = host
	}
	answered := false
	// Function 43/14. Over RTU goburrow computes the wrong length for its replies (a frame of unknown
	// length): skip it there; RTU devices are identified by SunSpec or the table's profile.
	var objs map[byte]string
	if !u.bus.rtu {
		err = u.bus.do(ctx, u.id, u.timeout, true, func(c modbus.Client, h handler) error {
			var err error
			objs, err = readDeviceID(c, h)
			return err
		})
		var ex *Exception
		switch {
		case err == nil:
			answered = true
		case errors.As(err, &ex):
			if ex.absent() {
				return s, false, nil
			}
			answered = true // it refused function 43: someone is there
		case errors.Is(err, ErrTimeout):
			// Perhaps a unit that ignores function 43 altogether: try the rest.
		default:
			return s, false, u.errorf(err, "read device identification")
		}
	}
	models, err := d.walkSunSpec(ctx, u)
	switch {
	case err == nil:
		if models != nil {
			answered = true
		}
	case errors.Is(err, ErrUnreachable):
		return s, false, err
	default:
		d.log.Debug("no SunSpec map", "unit", u.addr, "err", err)
		models = nil
	}
	d.mu.Lock()
	u.state.models, u.state.walked = models, true
	d.mu.Unlock()

	id := &s.Identity
	id.Manufacturer, id.Model, id.Firmware = objs[objVendorName], objs[objProductCode], objs[objRevision]
	if objs[objModelName] != "" && id.Model == "" {
		id.Model = objs[objModelName]
	}
	if common, ok := models[1]; ok {
		if w, err := d.readWords(ctx, u, TableHolding, common, 66); err == nil {
			str := func(off, n int) string {
				v, _ := text(ordered(&Register{Format: FormatString, Count: n}, w[off:off+n]))
				return v
			}
			id.Manufacturer = first(str(0, 16), id.Manufacturer)
			id.Model = first(str(16, 16), id.Model)
			id.Firmware = first(str(40, 8), id.Firmware)
			id.Serial = str(48, 16)
		} else {
			d.log.Debug("SunSpec common model unreadable", "unit", u.addr, "err", err)
		}
	}
	if eth, ok := models[11]; ok { // SunSpec Ethernet link layer: MAC at offset 3, four registers
		if w, err := d.readWords(ctx, u, TableHolding, eth+3, 4); err == nil {
			id.MAC = macOf(ordered(&Register{Format: FormatString, Count: 4}, w))
		}
	}

	var p *gateway.Profile
	if d.opts.Profiles != nil {
		ids := make([]int, 0, len(models))
		for m := range models {
			ids = append(ids, m)
		}
		sort.Ints(ids)
		p = d.match.match(objs[objVendorName], objs[objProductCode], ids)
		if p == nil && t.Profile != "" {
			p = d.opts.Profiles.Get(t.Profile)
			if p == nil || p.Protocol != Protocol {
				return s, false, u.errorf(fmt.Errorf("no Modbus profile %q", t.Profile), "table %s", t.Name)
			}
			if !answered {
				// Nothing said who it is: the unit is there if it answers the profile's first point.
				if err := d.probe(ctx, u, p); err != nil {
					var ex *Exception
					if errors.As(err, &ex) && !ex.absent() {
						answered = true
					} else {
						return s, false, ignoreSilence(err)
					}
				} else {
					answered = true
				}
			}
		}
	}
	if !answered {
		return s, false, nil
	}
	if p != nil {
		s.Profile = p.Name
		if id.Manufacturer == "" {
			id.Manufacturer = p.Manufacturer
		}
		d.profileIdentity(ctx, u, p, id)
	}
	return s, true, nil
}

// ignoreSilence turns "nobody answered" into nil: an absent unit, not a failure.
func ignoreSilence(err error) error {
	if errors.Is(err, ErrTimeout) {
		return nil
	}
	return err
}

// probe reads the profile's first register point.
func (d *Driver) probe(ctx context.Context, u *unit, p *gateway.Profile) error {
	for _, pt := range p.Points {
		if r := regOf(&pt); r != nil && r.Model == 0 {
			_, err := d.readWords(ctx, u, r.Table, r.Address, r.Words())
			return err
		}
	}
	return errors.New("the profile has no register point to probe")
}

// profileIdentity reads the identity registers a profile names; each one that answers with a usable
// value overrides what function 43 and SunSpec said.
func (d *Driver) profileIdentity(ctx context.Context, u *unit, p *gateway.Profile, id *gateway.Identity) {
	regs, _ := p.Identity.(Identity)
	for _, field := range gateway.IdentityFields {
		r, ok := regs[field]
		if !ok {
			continue
		}
		addr, err := d.resolve(ctx, u, &r, r.Address)
		if err != nil {
			d.log.Debug("identity register not found", "unit", u.addr, "field", field, "err", err)
			continue
		}
		w, err := d.readWords(ctx, u, r.Table, addr, r.Words())
		if err != nil {
			d.log.Debug("identity register unreadable", "unit", u.addr, "field", field, "err", err)
			continue
		}
		b := ordered(&r, w)
		var v string
		if field == "mac" {
			v = macOf(b)
		} else if r.Format == FormatString {
			v, _ = text(b)
		} else if rv, err := decodeRaw(&r, w, r.Model != 0); err == nil {
			v = rv.String()
		}
		if v == "" {
			continue
		}
		switch field {
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
}

// resolve turns a register's address into an absolute one: SunSpec model offsets are counted from the
// model's first data register, wherever this unit put the model.
func (d *Driver) resolve(ctx context.Context, u *unit, r *Register, addr uint16) (uint16, error) {
	if r.Model == 0 {
		return addr, nil
	}
	models, err := d.models(ctx, u)
	if err != nil {
		return 0, err
	}
	start, ok := models[r.Model]
	if !ok {
		return 0, fmt.Errorf("the unit has no SunSpec model %d", r.Model)
	}
	if int(start)+int(addr)+r.Words()-1 > 65535 {
		return 0, fmt.Errorf("SunSpec model %d offset %d runs past register 65535", r.Model, addr)
	}
	return start + addr, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Discover asks every unit id of every configured endpoint who it is. An endpoint listed as a single
// host (or a serial line) that cannot be reached is reported through failed; silent addresses inside a
// swept prefix are not.
func (d *Driver) Discover(ctx context.Context, found func(gateway.Sighting), failed func(gateway.TargetError)) error {
	type job struct {
		t        *Table
		key      string
		explicit bool
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range d.opts.Concurrency {
		wg.Go(func() {
			for j := range jobs {
				d.discoverEndpoint(ctx, j.t, j.key, j.explicit, found, failed)
			}
		})
	}
	var sent atomic.Int64
	func() {
		defer close(jobs)
		for i := range d.opts.Tables {
			t := &d.opts.Tables[i]
			send := func(key string, explicit bool) bool {
				select {
				case jobs <- job{t: t, key: key, explicit: explicit}:
					return true
				case <-ctx.Done():
					return false
				}
			}
			if t.Serial != nil {
				if !send(t.Serial.Device, true) {
					return
				}
				continue
			}
			for _, tg := range t.Targets {
				err := tg.Each(func(addr string) bool {
					if int(sent.Load()) >= d.opts.MaxAddresses {
						return false
					}
					sent.Add(1)
					return send(addr, tg.Explicit())
				})
				if err != nil {
					failed(gateway.TargetError{Protocol: Protocol, Address: tg.String(), Err: fmt.Errorf("modbus: %w", err)})
				}
				if ctx.Err() != nil {
					return
				}
			}
		}
	}()
	wg.Wait()
	if int(sent.Load()) >= d.opts.MaxAddresses {
		d.log.Warn("discovery stopped at the address limit", "max_addresses", d.opts.MaxAddresses)
	}
	return ctx.Err()
}

// discoverEndpoint asks each unit id behind one endpoint, one after another.
func (d *Driver) discoverEndpoint(ctx context.Context, t *Table, key string, explicit bool,
	found func(gateway.Sighting), failed func(gateway.TargetError)) {
	var got []gateway.Sighting
	for _, id := range t.UnitIDs {
		u := d.unit(t, key, id)
		s, ok, err := d.identify(ctx, t, u)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, ErrUnreachable) {
				if explicit {
					failed(gateway.TargetError{Protocol: Protocol, Address: key, Err: err})
				} else {
					d.log.Debug("nobody there", "target", key, "err", err)
				}
				return // the other unit ids are behind the same dead endpoint
			}
			failed(gateway.TargetError{Protocol: Protocol, Address: u.addr, Err: err})
			continue
		}
		if ok {
			got = append(got, s)
		} else {
			d.log.Debug("no unit", "target", u.addr)
		}
	}
	// A MAC from the neighbour table belongs to the host: it identifies a unit only when the unit is
	// the host itself, which is what a single answering unit at a TCP endpoint is taken to be (a
	// gateway to an RS-485 line answers for several).
	if len(got) == 1 && got[0].Identity.MAC == "" && d.opts.Neighbors != nil {
		if ip, err := netip.ParseAddr(got[0].Identity.IP); err == nil {
			if mac, ok := d.opts.Neighbors(ip); ok {
				got[0].Identity.MAC = mac
			}
		}
	}
	if explicit && len(got) == 0 {
		d.log.Debug("endpoint answered, no unit identified", "target", key, "units", len(t.UnitIDs))
	}
	for _, s := range got {
		found(s)
	}
}

// Reidentify reads a known unit's identity again, live: the serial handshake of a claim.
func (d *Driver) Reidentify(ctx context.Context, ep gateway.Endpoint) (gateway.Sighting, error) {
	t, u, err := d.target(ep)
	if err != nil {
		return gateway.Sighting{}, err
	}
	s, ok, err := d.identify(ctx, t, u)
	if err != nil {
		return s, err
	}
	if !ok {
		return s, fmt.Errorf("modbus %s: no unit answers", ep.Address)
	}
	return s, nil
}
