package snmp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/gateway"
)

// maxValueLen bounds any identity string an agent sends. Longer values are refused as an error for that
// device: nothing legitimate is that long, and storing it would let one agent bloat every twin.
const maxValueLen = 4096

// maxTableRows bounds the table walks done at discovery (interfaces, entities); a big switch has
// hundreds, nothing needs thousands.
const maxTableRows = 1024

// Discover sweeps every configured target once. An address listed as a single host that does not answer
// is reported through failed; silent addresses inside a swept prefix are not (nobody is there). Single
// hosts go straight to the identity workers; prefixes are probed first (see sweep.go), and only the
// addresses that answered take a worker.
func (d *Driver) Discover(ctx context.Context, found func(gateway.Sighting), failed func(gateway.TargetError)) error {
	type job struct {
		g        *Group
		addr     string
		explicit bool
	}
	start := time.Now()
	total := d.countAddresses()
	var done, nFound, nFailed, nSilent atomic.Int64
	step := func() {
		n := done.Add(1)
		if d.opts.Progress != nil {
			d.opts.Progress(int(n), total)
		}
	}
	var explicit []job
	var sweeps []sweepJob
	left := d.opts.MaxAddresses
	for i := range d.opts.Groups {
		g := &d.opts.Groups[i]
		for _, t := range g.Targets {
			if left <= 0 {
				break
			}
			if t.Explicit() {
				explicit = append(explicit, job{g: g, addr: t.String(), explicit: true})
				left--
				continue
			}
			n := min(t.Size(), left)
			sweeps = append(sweeps, sweepJob{g: g, t: t, limit: n})
			left -= n
		}
	}

	jobs := make(chan job)
	var wg sync.WaitGroup
	for range min(d.opts.Concurrency, max(total, 1)) {
		wg.Go(func() {
			for j := range jobs {
				s, err := d.Identify(ctx, j.addr, &j.g.Credentials, j.g.Timeout, j.g.Retries)
				switch {
				case err == nil:
					nFound.Add(1)
					found(s)
				case ctx.Err() != nil:
				case j.explicit || !isTimeout(err):
					nFailed.Add(1)
					failed(gateway.TargetError{Protocol: Protocol, Address: j.addr, Err: err})
				default:
					nSilent.Add(1)
					d.log.Debug("no agent", "target", j.addr, "err", err)
				}
				step()
			}
		})
	}
	// Answers to probes arrive on the sweep's readers, which must never wait for a worker: they queue
	// here, and one feeder hands them on.
	var (
		qmu    sync.Mutex
		queue  []job
		wake   = make(chan struct{}, 1)
		feeder sync.WaitGroup
	)
	enqueue := func(j job) {
		qmu.Lock()
		queue = append(queue, j)
		qmu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	sweepDone := make(chan struct{})
	feeder.Go(func() {
		for {
			qmu.Lock()
			batch := queue
			queue = nil
			qmu.Unlock()
			for _, j := range batch {
				select {
				case jobs <- j:
				case <-ctx.Done():
					return
				}
			}
			if len(batch) > 0 {
				continue
			}
			select {
			case <-wake:
			case <-sweepDone:
				qmu.Lock()
				empty := len(queue) == 0
				qmu.Unlock()
				if empty {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})
	var sweepErr error
	if len(sweeps) > 0 {
		feeder.Go(func() {
			defer close(sweepDone)
			sweepErr = d.runSweep(ctx, sweeps,
				func(p *sweepProbe) { enqueue(job{g: p.g, addr: p.addr.String()}) },
				func(*sweepProbe) { nSilent.Add(1); step() },
				step, failed)
		})
	} else {
		close(sweepDone)
	}
	for _, j := range explicit {
		select {
		case jobs <- j:
		case <-ctx.Done():
		}
	}
	feeder.Wait()
	close(jobs)
	wg.Wait()
	if sweepErr != nil {
		failed(gateway.TargetError{Protocol: Protocol, Address: "sweep", Err: sweepErr})
	}
	if left <= 0 && d.opts.MaxAddresses < d.totalAddresses() {
		d.log.Warn("discovery stopped at the address limit", "max_addresses", d.opts.MaxAddresses, "targets", d.totalAddresses())
	}
	st := SweepStats{Probed: int(done.Load()), Found: int(nFound.Load()), Silent: int(nSilent.Load()),
		Failed: int(nFailed.Load()), Elapsed: time.Since(start)}
	d.lastSweep.Store(&st)
	if len(sweeps) > 0 {
		d.log.Info("sweep done", "addresses", st.Probed, "found", st.Found, "silent", st.Silent, "failed", st.Failed,
			"seconds", st.Elapsed.Round(10*time.Millisecond).Seconds())
	}
	return ctx.Err()
}

// LastSweep returns the counts of the last finished discovery pass (zero before the first).
func (d *Driver) LastSweep() SweepStats {
	if st := d.lastSweep.Load(); st != nil {
		return *st
	}
	return SweepStats{}
}

// countAddresses is how many addresses a pass will probe (capped by MaxAddresses), for progress.
func (d *Driver) countAddresses() int {
	return min(d.totalAddresses(), d.opts.MaxAddresses)
}

// totalAddresses is how many addresses the targets stand for, saturating.
func (d *Driver) totalAddresses() int {
	n := 0
	for _, g := range d.opts.Groups {
		for _, t := range g.Targets {
			n += t.Size()
			if n >= 1<<30 {
				return 1 << 30
			}
		}
	}
	return n
}

// macOf returns a usable unicast MAC held by an OCTET STRING varbind, or "". Six octets only: some agents
// put text in ifPhysAddress ("HostPC"), and zero, broadcast and multicast addresses identify nothing.
func macOf(p gosnmp.SnmpPDU) string {
	b, ok := p.Value.([]byte)
	if !ok {
		return ""
	}
	if len(b) == 17 { // an agent that sends the text form
		if hw, err := net.ParseMAC(string(b)); err == nil {
			b = hw
		}
	}
	if len(b) != 6 || b[0]&1 == 1 || printable(b) {
		return ""
	}
	if b[0]|b[1]|b[2]|b[3]|b[4]|b[5] == 0 {
		return ""
	}
	return net.HardwareAddr(b).String()
}

// printable reports whether b is all ASCII letters and digits: text ("HostPC") where an agent should
// have put an address. A real MAC is that by chance about once in 5,000 devices; those lose only the MAC
// (the device then gets a protocol id), which is better than every such agent getting a bogus one.
func printable(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// text turns an OCTET STRING into a string: valid UTF-8 kept; else Latin-1 when every byte is a
// printable Latin-1 character (firmware that writes 0xDA as a separator), else hex. The value ends at
// its first NUL: what follows is a fixed-size buffer's leftovers. Values over maxValueLen are an error.
func text(p gosnmp.SnmpPDU) (string, error) {
	var s string
	switch v := p.Value.(type) {
	case nil:
		return "", nil
	case []byte:
		if len(v) > maxValueLen {
			return "", fmt.Errorf("value is %d bytes (limit %d)", len(v), maxValueLen)
		}
		if i := bytes.IndexByte(v, 0); i >= 0 && !allZero(v[i:]) && utf8.Valid(v[:i]) && printableText(v[:i]) {
			v = v[:i] // text, then a buffer's leftovers
		}
		switch {
		case allZero(v):
			s = ""
		case utf8.Valid(v):
			s = string(v)
		case latin1(v):
			r := make([]rune, len(v))
			for i, b := range v {
				r[i] = rune(b)
			}
			s = string(r)
		default:
			s = fmt.Sprintf("%x", v)
		}
	case string:
		if len(v) > maxValueLen {
			return "", fmt.Errorf("value is %d bytes (limit %d)", len(v), maxValueLen)
		}
		s = v
	default:
		s = fmt.Sprint(v)
	}
	return strings.TrimRight(strings.TrimSpace(s), "\x00"), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// printableText reports whether b holds at least one printable character and no control characters but
// white space.
func printableText(b []byte) bool {
	seen := false
	for _, c := range b {
		switch {
		case c == '\t' || c == '\n' || c == '\r':
		case c < 0x20 || c == 0x7f:
			return false
		default:
			seen = true
		}
	}
	return seen
}

// latin1 reports whether every byte of b is a printable ISO 8859-1 character or white space.
func latin1(b []byte) bool {
	for _, c := range b {
		if !(c >= 0x20 && c < 0x7f || c >= 0xa0 || c == '\t' || c == '\n' || c == '\r') {
			return false
		}
	}
	return true
}

// placeholders are values that contributors and vendors put where the real value is hidden or unset.
var placeholder = regexp.MustCompile(`(?i)^(<private>|unknown|n/?a|none|null|not (set|available|specified)|default|0+|(00[ :.-]?)+|x+|-+|\?+|serial ?number|to be filled by o\.e\.m\.)$`)

// usable returns s, or "" when s is a mask or placeholder rather than a value.
func usable(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || placeholder.MatchString(s) {
		return ""
	}
	return s
}

func oidValue(p gosnmp.SnmpPDU) string {
	if s, ok := p.Value.(string); ok && s != "" {
		return normOID(s)
	}
	return ""
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		m = normOID(m)
		dup := false
		for _, l := range list {
			if l == m {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, m)
		}
	}
	return list
}
