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
// is reported through failed; silent addresses inside a swept prefix are not (nobody is there).
func (d *Driver) Discover(ctx context.Context, found func(gateway.Sighting), failed func(gateway.TargetError)) error {
	type job struct {
		g        *Group
		addr     string
		explicit bool
	}
	total := d.countAddresses()
	jobs := make(chan job)
	var done atomic.Int64
	var wg sync.WaitGroup
	workers := min(d.opts.Concurrency, max(total, 1))
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				s, err := d.Identify(ctx, j.addr, &j.g.Credentials, j.g.Timeout, j.g.Retries)
				switch {
				case err == nil:
					found(s)
				case ctx.Err() != nil:
				case j.explicit || !isTimeout(err):
					failed(gateway.TargetError{Protocol: Protocol, Address: j.addr, Err: err})
				default:
					d.log.Debug("no agent", "target", j.addr, "err", err)
				}
				n := done.Add(1)
				if d.opts.Progress != nil {
					d.opts.Progress(int(n), total)
				}
			}
		})
	}
	sent := 0
	func() {
		defer close(jobs)
		for i := range d.opts.Groups {
			g := &d.opts.Groups[i]
			for _, t := range g.Targets {
				err := t.Each(func(addr string) bool {
					if sent >= d.opts.MaxAddresses {
						return false
					}
					sent++
					select {
					case jobs <- job{g: g, addr: addr, explicit: t.Explicit()}:
						return true
					case <-ctx.Done():
						return false
					}
				})
				if err != nil {
					failed(gateway.TargetError{Protocol: Protocol, Address: t.String(), Err: fmt.Errorf("snmp: %w", err)})
				}
				if ctx.Err() != nil || sent >= d.opts.MaxAddresses {
					return
				}
			}
		}
	}()
	wg.Wait()
	if sent >= d.opts.MaxAddresses && sent < total {
		d.log.Warn("discovery stopped at the address limit", "max_addresses", d.opts.MaxAddresses, "targets", total)
	}
	return ctx.Err()
}

// countAddresses is how many addresses a pass will probe (capped by MaxAddresses), for progress.
func (d *Driver) countAddresses() int {
	n := 0
	for _, g := range d.opts.Groups {
		for _, t := range g.Targets {
			n += t.Size()
			if n >= d.opts.MaxAddresses {
				return d.opts.MaxAddresses
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
