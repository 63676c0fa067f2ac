package sim

import "github.com/gosnmp/gosnmp"

// maxBulkVarbinds bounds one GETBULK answer whatever the request asks.
const maxBulkVarbinds = 5000

// request is a decoded PDU with what the agent needs to answer it.
type request struct {
	v1       bool
	pduType  gosnmp.PDUType
	vars     []gosnmp.SnmpPDU
	nonRep   int
	maxRep   int
	canWrite bool
	budget   int // bytes available for varbinds in a GETBULK answer
}

// result is the body of a Response PDU.
type result struct {
	vars   []gosnmp.SnmpPDU
	status gosnmp.SNMPError
	index  int
}

// respond decodes one request and returns the datagram to answer with, or
// nil for no answer.
func (d *device) respond(req []byte, mode faultMode) []byte {
	ver, err := peekVersion(req)
	if err != nil {
		d.site.malformed.Add(1)
		return nil
	}
	switch ver {
	case 0, 1:
		return d.respondCommunity(req, gosnmp.SnmpVersion(ver), mode)
	case 3:
		return d.respondV3(req, mode)
	}
	d.site.malformed.Add(1)
	return nil
}

func (d *device) respondCommunity(raw []byte, ver gosnmp.SnmpVersion, mode faultMode) []byte {
	s := d.site
	x := &gosnmp.GoSNMP{Version: ver}
	pkt, err := x.SnmpDecodePacket(raw)
	if err != nil {
		s.malformed.Add(1)
		return nil
	}
	if pkt.PDUType == gosnmp.GetResponse {
		// The acknowledgement of an inform the device sent (traps.go); an agent answers no Response.
		if !d.acknowledged(pkt.RequestID) {
			s.malformed.Add(1)
		}
		return nil
	}
	var canWrite bool
	switch pkt.Community {
	case s.ro:
	case s.rw:
		canWrite = true
	default:
		s.badCommunity.Add(1)
		return nil
	}
	limit := s.maxResp
	if mode == faultHuge {
		limit = maxUDPPayload
	}
	r := request{
		v1: ver == gosnmp.Version1, pduType: pkt.PDUType, vars: pkt.Variables,
		nonRep: int(pkt.NonRepeaters), maxRep: int(pkt.MaxRepetitions),
		canWrite: canWrite,
		budget:   limit - 40 - len(pkt.Community),
	}
	res, ok := d.process(r)
	if !ok {
		s.malformed.Add(1)
		return nil
	}
	reqID := pkt.RequestID
	if mode == faultWrongRequestID {
		reqID++
	}
	return d.fit(r, res, limit, func(res result) ([]byte, error) {
		out := &gosnmp.SnmpPacket{
			Version: ver, Community: pkt.Community, PDUType: gosnmp.GetResponse,
			RequestID: reqID, Error: res.status, ErrorIndex: uint8(min(res.index, 255)),
			Variables: res.vars,
		}
		return out.MarshalMsg()
	})
}

// fit marshals res and makes it fit limit: a GETBULK answer is cut short,
// anything else becomes tooBig (RFC 3416 4.2.1; RFC 1157 keeps the request's
// varbinds).
func (d *device) fit(r request, res result, limit int, marshal func(result) ([]byte, error)) []byte {
	out, err := marshal(res)
	for range 8 {
		if err != nil || len(out) <= limit {
			break
		}
		if r.pduType == gosnmp.GetBulkRequest && len(res.vars) > 1 {
			keep := len(res.vars) * limit / len(out)
			keep = max(1, min(keep, len(res.vars)-1))
			res.vars = res.vars[:keep]
		} else {
			res = result{status: gosnmp.TooBig}
			if r.v1 {
				res.vars = r.vars
			}
		}
		out, err = marshal(res)
	}
	if err != nil || len(out) > maxUDPPayload {
		d.site.log.Debug("snmp answer dropped", "target", d.info.Addr.String(), "size", len(out), "err", err)
		d.site.dropped.Add(1)
		return nil
	}
	return out
}

// process runs a request against the device's MIB. ok is false for PDUs an
// agent does not answer.
func (d *device) process(r request) (res result, ok bool) {
	mib := d.site.mibs[d.kind]
	d.mu.Lock()
	defer d.mu.Unlock()
	el := d.elapsed()
	value := func(e *entry) gosnmp.SnmpPDU {
		return gosnmp.SnmpPDU{Name: e.name, Type: e.typ, Value: e.get(d, el)}
	}
	fail := func(st gosnmp.SNMPError, i int) (result, bool) {
		if r.v1 {
			st = v1Status(st)
		}
		return result{vars: r.vars, status: st, index: i + 1}, true
	}
	switch r.pduType {
	case gosnmp.GetRequest:
		res.vars = make([]gosnmp.SnmpPDU, len(r.vars))
		for i, vb := range r.vars {
			o, err := parseOID(vb.Name)
			idx := -1
			if err == nil {
				idx = lookup(mib, o)
			}
			switch {
			case idx >= 0:
				res.vars[i] = value(&mib[idx])
			case r.v1:
				return fail(gosnmp.NoSuchName, i)
			case err == nil && knownObject(mib, o):
				res.vars[i] = gosnmp.SnmpPDU{Name: vb.Name, Type: gosnmp.NoSuchInstance}
			default:
				res.vars[i] = gosnmp.SnmpPDU{Name: vb.Name, Type: gosnmp.NoSuchObject}
			}
		}
		return res, true
	case gosnmp.GetNextRequest:
		res.vars = make([]gosnmp.SnmpPDU, len(r.vars))
		for i, vb := range r.vars {
			o, err := parseOID(vb.Name)
			if err != nil {
				return fail(gosnmp.GenErr, i)
			}
			idx := next(mib, o)
			switch {
			case idx < len(mib):
				res.vars[i] = value(&mib[idx])
			case r.v1:
				return fail(gosnmp.NoSuchName, i)
			default:
				res.vars[i] = gosnmp.SnmpPDU{Name: vb.Name, Type: gosnmp.EndOfMibView}
			}
		}
		return res, true
	case gosnmp.GetBulkRequest:
		if r.v1 {
			return res, false
		}
		return d.bulk(r, mib, value)
	case gosnmp.SetRequest:
		if !r.canWrite {
			return fail(gosnmp.NoAccess, 0)
		}
		targets := make([]*entry, len(r.vars))
		for i, vb := range r.vars {
			o, err := parseOID(vb.Name)
			if err != nil {
				return fail(gosnmp.NoCreation, i)
			}
			idx := lookup(mib, o)
			switch {
			case idx < 0:
				return fail(gosnmp.NoCreation, i)
			case mib[idx].set == nil:
				return fail(gosnmp.NotWritable, i)
			case vb.Type != mib[idx].typ:
				return fail(gosnmp.WrongType, i)
			}
			if st := mib[idx].set(nil, vb.Value); st != gosnmp.NoError {
				return fail(st, i)
			}
			targets[i] = &mib[idx]
		}
		// Every varbind is valid: apply them all (SET is atomic).
		for i, e := range targets {
			e.set(d, r.vars[i].Value)
		}
		res.vars = make([]gosnmp.SnmpPDU, len(r.vars))
		for i, e := range targets {
			res.vars[i] = value(e)
		}
		return res, true
	}
	return res, false
}

// bulk answers a GETBULK (RFC 3416 4.2.3), stopping early when every
// repeater has hit the end of the MIB or the size budget is spent.
func (d *device) bulk(r request, mib []entry, value func(*entry) gosnmp.SnmpPDU) (result, bool) {
	var res result
	nonRep := min(max(r.nonRep, 0), len(r.vars))
	maxRep := max(r.maxRep, 0)
	size := 0
	pos := make([]oid, len(r.vars))
	for i, vb := range r.vars {
		o, err := parseOID(vb.Name)
		if err != nil {
			return result{vars: r.vars, status: gosnmp.GenErr, index: i + 1}, true
		}
		pos[i] = o
	}
	step := func(i int) gosnmp.SnmpPDU {
		idx := next(mib, pos[i])
		if idx >= len(mib) {
			return gosnmp.SnmpPDU{Name: oidString(pos[i]), Type: gosnmp.EndOfMibView}
		}
		pos[i] = mib[idx].oid
		return value(&mib[idx])
	}
	add := func(vb gosnmp.SnmpPDU) bool {
		res.vars = append(res.vars, vb)
		size += varbindSize(vb)
		return size < r.budget && len(res.vars) < maxBulkVarbinds
	}
	for i := range nonRep {
		if !add(step(i)) {
			return res, true
		}
	}
	for range maxRep {
		allEnd := true
		for i := nonRep; i < len(r.vars); i++ {
			vb := step(i)
			if vb.Type != gosnmp.EndOfMibView {
				allEnd = false
			}
			if !add(vb) {
				return res, true
			}
		}
		if allEnd || nonRep == len(r.vars) {
			break
		}
	}
	return res, true
}

func oidString(o oid) string {
	b := make([]byte, 0, len(o)*4)
	for _, a := range o {
		b = append(b, '.')
		b = appendUint(b, uint64(a))
	}
	return string(b)
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// varbindSize is a close upper bound of a varbind's BER size.
func varbindSize(vb gosnmp.SnmpPDU) int {
	n := 8 + len(vb.Name)/2 + 2 // sequence + OID headers; an arc is ≥ 2 chars
	switch v := vb.Value.(type) {
	case string:
		n += len(v) + 4
	case []byte:
		n += len(v) + 4
	default:
		n += 7
	}
	return n
}

// v1Status maps an SNMPv2 error status to SNMPv1 (RFC 3584 4.4).
func v1Status(st gosnmp.SNMPError) gosnmp.SNMPError {
	switch st {
	case gosnmp.NoAccess, gosnmp.NotWritable, gosnmp.NoCreation, gosnmp.InconsistentName, gosnmp.AuthorizationError:
		return gosnmp.NoSuchName
	case gosnmp.WrongValue, gosnmp.WrongEncoding, gosnmp.WrongType, gosnmp.WrongLength, gosnmp.InconsistentValue:
		return gosnmp.BadValue
	case gosnmp.ResourceUnavailable, gosnmp.CommitFailed, gosnmp.UndoFailed:
		return gosnmp.GenErr
	}
	return st
}
