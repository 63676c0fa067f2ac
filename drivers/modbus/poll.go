package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/goburrow/modbus"

	"github.com/edgegw/edgegw/gateway"
)

// Read limits of the protocol: 125 registers (functions 3 and 4), 2000 bits (functions 1 and 2).
const (
	maxRegisters = 125
	maxBits      = 2000
	// maxGap is how many unused registers a coalesced read may span between two points. A device that
	// refuses such a read (a hole in its map) is read point by point afterwards.
	maxGap = 8
)

// item is one run of registers a poll needs: a point's, or a SunSpec scale factor's (point < 0).
type item struct {
	point int
	table string
	addr  uint16 // absolute
	n     int
	words []uint16
	err   error
}

// span is one read request covering several items of one table.
type span struct {
	table string
	addr  uint16
	n     int
	items []*item
}

// plan groups items into as few reads as the protocol allows: same table, sorted by address, each read
// at most maxRegisters (maxBits) long and bridging gaps of at most gap registers.
func plan(items []*item, gap int) []span {
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b *item) int {
		if c := strings.Compare(a.table, b.table); c != 0 {
			return c
		}
		return int(a.addr) - int(b.addr)
	})
	var out []span
	for _, it := range sorted {
		limit := maxRegisters
		if it.table == TableCoil || it.table == TableDiscrete {
			limit = maxBits
		}
		if k := len(out) - 1; k >= 0 {
			s := &out[k]
			end := int(s.addr) + s.n // one past the span
			newEnd := max(end, int(it.addr)+it.n)
			if s.table == it.table && int(it.addr) <= end+gap && newEnd-int(s.addr) <= limit {
				s.n = newEnd - int(s.addr)
				s.items = append(s.items, it)
				continue
			}
		}
		out = append(out, span{table: it.table, addr: it.addr, n: it.n, items: []*item{it}})
	}
	return out
}

// Poll reads every register point of a unit in coalesced reads and converts each value to the
// point's type, scale and unit. Points without a register (another protocol's) are skipped.
func (d *Driver) Poll(ctx context.Context, ep gateway.Endpoint, points []gateway.Point) ([]gateway.Reading, error) {
	_, u, err := d.target(ep)
	if err != nil {
		return nil, err
	}
	items := make([]*item, 0, len(points))
	sfs := map[[2]int]*item{} // (model, offset) -> scale factor item
	out := make([]gateway.Reading, 0, len(points))
	pointItem := make([]*item, len(points))
	sfItem := make([]*item, len(points))
	for i := range points {
		r := regOf(&points[i])
		if r == nil {
			continue
		}
		addr, err := d.resolve(ctx, u, r, r.Address)
		if err != nil {
			if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) {
				return nil, err
			}
			pointItem[i] = &item{point: i, err: err}
			continue
		}
		it := &item{point: i, table: r.Table, addr: addr, n: r.Words()}
		pointItem[i] = it
		items = append(items, it)
		if r.ScaleFactor != nil {
			key := [2]int{r.Model, int(*r.ScaleFactor)}
			sf, ok := sfs[key]
			if !ok {
				sfr := Register{Table: r.Table, Model: r.Model, Format: FormatI16}
				a, err := d.resolve(ctx, u, &sfr, *r.ScaleFactor)
				sf = &item{point: -1, table: r.Table, addr: a, n: 1, err: err}
				sfs[key] = sf
				if err == nil {
					items = append(items, sf)
				}
			}
			sfItem[i] = sf
		}
	}

	d.mu.Lock()
	gap := maxGap
	if u.state.strict {
		gap = 0
	}
	d.mu.Unlock()
	answered, failed := 0, error(nil)
	for _, s := range plan(items, gap) {
		w, err := d.readWords(ctx, u, s.table, s.addr, s.n)
		var ex *Exception
		switch {
		case err == nil:
			answered++
			for _, it := range s.items {
				off := int(it.addr) - int(s.addr)
				it.words = w[off : off+it.n]
			}
			continue
		case errors.As(err, &ex) && len(s.items) > 1:
			answered++
			if gap > 0 {
				d.mu.Lock()
				u.state.strict = true
				d.mu.Unlock()
				d.log.Debug("unit refused a coalesced read: reading point by point from now on", "unit", u.addr, "err", err)
			}
			for _, it := range s.items { // find the point(s) it refuses
				it.words, it.err = d.readWords(ctx, u, it.table, it.addr, it.n)
				if it.err != nil && !errors.As(it.err, new(*Exception)) {
					failed = it.err
					break
				}
			}
			continue
		case errors.As(err, &ex):
			answered++
		default:
			failed = err
		}
		for _, it := range s.items {
			it.err = err
		}
		if failed != nil {
			break // no answer: the rest would wait for the same silence
		}
	}
	if answered == 0 && failed != nil {
		return nil, failed
	}

	for i := range points {
		p := &points[i]
		it := pointItem[i]
		if it == nil {
			continue
		}
		r := gateway.Reading{Name: p.Name, Unit: p.Unit, Source: fmt.Sprintf("%s %d", regOf(p).Table, it.addr)}
		switch {
		case it.err != nil:
			r.Err = fmt.Errorf("%s: %w", p.Name, it.err)
		case it.words == nil:
			r.Err = fmt.Errorf("%s: not read: %w", p.Name, failed)
		default:
			r.Raw = rawWords(it.words)
			r.Value, r.Err = d.convert(p, it.words, sfItem[i])
			if r.Err != nil {
				r.Err = fmt.Errorf("%s (%s): %w", p.Name, r.Source, r.Err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// convert decodes one point's registers, with its SunSpec scale factor when it has one.
func (d *Driver) convert(p *gateway.Point, w []uint16, sf *item) (gateway.Value, error) {
	r := regOf(p)
	if r.Table == TableCoil || r.Table == TableDiscrete {
		pt := *p
		if pt.Type == "" {
			pt.Type = gateway.TypeBool
		}
		return value(&pt, raw{num: float64(w[0]), isNum: true}, 0)
	}
	rv, err := decodeRaw(r, w, r.Model != 0)
	if err != nil {
		return gateway.Value{}, err
	}
	if r.Model != 0 && p.Type == gateway.TypeCounter && rv.isNum && rv.num == 0 {
		return gateway.Value{}, fmt.Errorf("%w (SunSpec accumulator 0: not accumulated)", ErrAbsent)
	}
	exp := 0
	if sf != nil {
		if exp, err = scaleFactor(sf); err != nil {
			return gateway.Value{}, err
		}
	}
	return value(p, rv, exp)
}

// scaleFactor reads a SunSpec sunssf: a signed power of ten, 0x8000 meaning not implemented.
func scaleFactor(sf *item) (int, error) {
	switch {
	case sf.err != nil:
		return 0, fmt.Errorf("scale factor: %w", sf.err)
	case sf.words == nil:
		return 0, errors.New("scale factor not read")
	}
	v := int16(sf.words[0])
	switch {
	case v == math.MinInt16:
		return 0, fmt.Errorf("%w (scale factor not implemented)", ErrAbsent)
	case v < -10 || v > 10:
		return 0, fmt.Errorf("%w: scale factor %d is outside -10..10", ErrType, v)
	}
	return int(v), nil
}

func rawWords(w []uint16) string {
	var b strings.Builder
	for i, x := range w {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%04X", x)
	}
	return b.String()
}

// Write sets one point (already validated against the profile by the core): function 5 for a coil,
// 6 for one holding register, 16 for several. It reads the point back and returns what the device
// holds now. A refusal (an exception) is a *gateway.WriteError with the exception's name as reason.
func (d *Driver) Write(ctx context.Context, ep gateway.Endpoint, p gateway.Point, v gateway.Value) (gateway.Value, error) {
	_, u, err := d.target(ep)
	if err != nil {
		return gateway.Value{}, err
	}
	r := regOf(&p)
	if r == nil {
		return gateway.Value{}, fmt.Errorf("modbus %s: set %s: %w: the point has no register", ep.Address, p.Name, ErrNotWritable)
	}
	addr, err := d.resolve(ctx, u, r, r.Address)
	if err != nil {
		return gateway.Value{}, u.errorf(err, "set %s", p.Name)
	}
	var sf *item
	exp := 0
	if r.ScaleFactor != nil {
		sfr := Register{Table: r.Table, Model: r.Model, Format: FormatI16}
		a, err := d.resolve(ctx, u, &sfr, *r.ScaleFactor)
		sf = &item{point: -1, err: err}
		if err == nil {
			sf.words, sf.err = d.readWords(ctx, u, r.Table, a, 1)
		}
		if exp, err = scaleFactor(sf); err != nil {
			return gateway.Value{}, u.errorf(err, "set %s", p.Name)
		}
	}
	words, bit, err := encode(&p, v, exp)
	if err != nil {
		return gateway.Value{}, u.errorf(err, "set %s", p.Name)
	}
	err = u.bus.do(ctx, u.id, u.timeout, false, func(c modbus.Client, _ handler) error {
		switch {
		case r.Table == TableCoil:
			var val uint16
			if bit {
				val = 0xFF00
			}
			_, err := c.WriteSingleCoil(addr, val)
			return err
		case len(words) == 1:
			_, err := c.WriteSingleRegister(addr, words[0])
			return err
		default:
			b := make([]byte, 2*len(words))
			for i, w := range words {
				b[2*i], b[2*i+1] = byte(w>>8), byte(w)
			}
			_, err := c.WriteMultipleRegisters(addr, uint16(len(words)), b)
			return err
		}
	})
	var ex *Exception
	if errors.As(err, &ex) {
		return gateway.Value{}, &gateway.WriteError{Point: p.Name, Reason: ex.Name(), Hint: writeHints[ex.Name()]}
	}
	if err != nil {
		return gateway.Value{}, u.errorf(err, "set %s (%s %d); it may or may not have been applied", p.Name, r.Table, addr)
	}
	w, err := d.readWords(ctx, u, r.Table, addr, r.Words())
	if err != nil {
		return gateway.Value{}, fmt.Errorf("set %s: %w: %w", p.Name, gateway.ErrUnconfirmed, err)
	}
	back, err := d.convert(&p, w, sf)
	if err != nil {
		return gateway.Value{}, u.errorf(err, "read back %s", p.Name)
	}
	return back, nil
}

// writeHints say what usually causes a device to refuse a write, for the people who read the error.
var writeHints = map[string]string{
	"illegal function":     " (the device does not write this register kind)",
	"illegal data address": " (no such register)",
	"illegal data value":   " (value out of range)",
	"server device busy":   " (try again later)",
}
