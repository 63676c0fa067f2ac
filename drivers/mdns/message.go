package mdns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Record is one resource record of an mDNS message, as far as discovery needs it. Only PTR, SRV, TXT,
// A and AAAA carry data; other types are kept with their header only.
type Record struct {
	Name  string // lower-case owner name with the final dot, escaped as miekg/dns writes it
	Type  uint16
	TTL   uint32
	Flush bool // the cache-flush bit of the class

	Target string     // PTR: the instance; SRV: the host
	Port   uint16     // SRV
	TXT    []byte     // TXT: the raw RDATA (length-prefixed strings)
	Addr   netip.Addr // A, AAAA
}

// Message is what a packet held: the records that could be read, and how many could not.
type Message struct {
	Response bool
	Records  []Record
	// Dropped counts records skipped because their name or data was broken (an invalid compression
	// pointer, a field running past its RDATA).
	Dropped int
}

// errShort is a packet that ends inside its own structure: the records read so far are kept.
var errShort = errors.New("truncated packet")

// maxRecords bounds what one packet may hold (a 9000-byte jumbo packet holds fewer than 800).
const maxRecords = 1024

// ParseMessage reads an mDNS message the way real devices need it read: every record whose name and
// data are sound is kept, and a broken one is skipped rather than failing the packet. A strict DNS
// parser (miekg/dns's Msg.Unpack, which hashicorp/mdns uses) drops the whole packet on the first bad
// compression pointer; real devices send such packets (a Sonos speaker's NSEC record, for one). Record
// boundaries come from the wire format itself — a name ends at its zero label or at its first
// pointer, the data at RDLENGTH — so a bad pointer inside one record does not hide the next. The error
// is non-nil only when the packet is not DNS at all or ends inside a record; what was read before is
// returned with it.
func ParseMessage(b []byte) (Message, error) {
	var m Message
	if len(b) < 12 {
		return m, fmt.Errorf("%w: %d bytes, less than a DNS header", errShort, len(b))
	}
	m.Response = b[2]&0x80 != 0
	qd := int(binary.BigEndian.Uint16(b[4:]))
	rr := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint16(b[10:]))
	off := 12
	for range qd {
		end, err := skipName(b, off)
		if err != nil || end+4 > len(b) {
			return m, fmt.Errorf("%w: in the question section", errShort)
		}
		off = end + 4
	}
	for i := 0; i < rr && i < maxRecords; i++ {
		nameEnd, err := skipName(b, off)
		if err != nil || nameEnd+10 > len(b) {
			return m, fmt.Errorf("%w: record %d of %d", errShort, i+1, rr)
		}
		typ := binary.BigEndian.Uint16(b[nameEnd:])
		class := binary.BigEndian.Uint16(b[nameEnd+2:])
		ttl := binary.BigEndian.Uint32(b[nameEnd+4:])
		rdlen := int(binary.BigEndian.Uint16(b[nameEnd+8:]))
		data := nameEnd + 10
		if data+rdlen > len(b) {
			return m, fmt.Errorf("%w: record %d's data runs past the packet", errShort, i+1)
		}
		next := data + rdlen
		r, ok := readRecord(b, off, typ, class, ttl, data, rdlen)
		if ok {
			m.Records = append(m.Records, r)
		} else {
			m.Dropped++
		}
		off = next
	}
	return m, nil
}

// readRecord decodes one record whose boundaries are known; ok is false when its name or data is
// broken.
func readRecord(b []byte, off int, typ, class uint16, ttl uint32, data, rdlen int) (Record, bool) {
	name, _, err := dns.UnpackDomainName(b, off)
	if err != nil {
		return Record{}, false
	}
	r := Record{Name: strings.ToLower(name), Type: typ, TTL: ttl, Flush: class&0x8000 != 0}
	rd := b[data : data+rdlen]
	switch typ {
	case dns.TypePTR:
		t, end, err := dns.UnpackDomainName(b, data)
		if err != nil || end > data+rdlen {
			return Record{}, false
		}
		r.Target = t
	case dns.TypeSRV:
		if rdlen < 7 {
			return Record{}, false
		}
		r.Port = binary.BigEndian.Uint16(rd[4:])
		t, end, err := dns.UnpackDomainName(b, data+6)
		if err != nil || end > data+rdlen {
			return Record{}, false
		}
		r.Target = strings.ToLower(t)
	case dns.TypeTXT:
		r.TXT = append([]byte(nil), rd...)
	case dns.TypeA:
		if rdlen != 4 {
			return Record{}, false
		}
		r.Addr = netip.AddrFrom4([4]byte(rd))
	case dns.TypeAAAA:
		if rdlen != 16 {
			return Record{}, false
		}
		r.Addr = netip.AddrFrom16([16]byte(rd))
	}
	return r, true
}

// skipName returns the offset just past the name at off: after its zero label, or after its first
// compression pointer (wherever that points: reading the name is another matter).
func skipName(b []byte, off int) (int, error) {
	for hops := 0; hops < 128; hops++ {
		if off >= len(b) {
			return 0, errShort
		}
		c := int(b[off])
		switch {
		case c == 0:
			return off + 1, nil
		case c&0xC0 == 0xC0:
			if off+2 > len(b) {
				return 0, errShort
			}
			return off + 2, nil
		case c&0xC0 != 0:
			return 0, errors.New("reserved label type")
		}
		off += 1 + c
	}
	return 0, errors.New("name too long")
}

// TXTEntry is one key=value string of a TXT record (RFC 6763 §6).
type TXTEntry struct {
	Key      string // lower-case: keys compare without regard to case
	Value    []byte // nil for a key without '=' (a boolean attribute); empty for "key="
	HasValue bool
}

// ParseTXT reads a TXT record's RDATA: length-prefixed strings of key=value, the first occurrence of a
// key winning (§6.4), strings without a key or that are empty skipped (§6.4, §6.1). Values are bytes:
// they may be binary.
func ParseTXT(rdata []byte) []TXTEntry {
	var out []TXTEntry
	seen := map[string]bool{}
	for i := 0; i < len(rdata); {
		n := int(rdata[i])
		i++
		if i+n > len(rdata) {
			n = len(rdata) - i // a string that runs past the record: keep what is there
		}
		s := rdata[i : i+n]
		i += n
		if len(s) == 0 {
			continue
		}
		k, v, has := strings.Cut(string(s), "=")
		k = strings.ToLower(k)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		e := TXTEntry{Key: k, HasValue: has}
		if has {
			e.Value = []byte(v)
		}
		out = append(out, e)
	}
	return out
}

// query builds one mDNS query message for the questions; unicast sets the QU bit of each question
// (RFC 6762 §5.4).
func query(questions []dns.Question, unicast bool) ([]byte, error) {
	m := new(dns.Msg)
	m.RecursionDesired = false
	for _, q := range questions {
		if unicast {
			q.Qclass |= 1 << 15
		}
		m.Question = append(m.Question, q)
	}
	return m.Pack()
}
