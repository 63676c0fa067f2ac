// Package enterprise names the organisation behind an SNMP sysObjectID from its IANA Private
// Enterprise Number, the arc after .1.3.6.1.4.1, so that every SNMP device gets a manufacturer.
//
// # Data
//
// registry.tsv is the IANA registry (https://www.iana.org/assignments/enterprise-numbers) reduced
// to "number<TAB>organisation" lines; the registry's contact names and e-mail addresses are not
// kept. It is embedded uncompressed (1.7 MB; gzip would make it 0.8 MB): the names stay in the
// binary's read-only data, paged in as needed, and loading (once, on first use, about 6 ms) only
// builds an index of them, 4 bytes a number: 257 KB of heap (TestHeapAfterLoad). Compressed, all
// 1.7 MB would live on the heap for the life of the gateway instead.
//
// The copy in use is the registry as IANA published it on 2025-06-30, 63,570 assigned numbers up to
// 63813, taken from src/enterprise-numbers.json of github.com/parthiganesh/snmp-sysObjectID
// (commit c73357acba4c6906ec06c45145340113dd73b41b, MIT; that repository fetches it from IANA with its
// src/update-data.js). Newer copies of IANA's own text exist in public repositories (2026-07-24 in
// github.com/CamberLoid/aosc-misc-files, enterprise-numbers.txt, sha256
// b93ec9581c6694a29989fc9f6f0ac1b807f93fbfe57f76063ef5ae70399df2bf) but are over 4 MiB, more than
// could be brought to the machine this was built on. The numbers IANA assigned since (63814 to 66363
// by 2026-07-24, new registrants) name nobody here until the next refresh.
//
// # Refreshing
//
// Download https://www.iana.org/assignments/enterprise-numbers.txt, then, in this directory:
//
//	ENTERPRISE_NUMBERS=/path/to/enterprise-numbers.txt go generate
//
// gen/ reads IANA's text (or a JSON {"number": "organisation"} copy), keeps only the organisations,
// refuses any that holds an e-mail address (a few 1990s entries have the contact run into the
// organisation line; gen/main.go repairs those it knows), and rewrites registry.tsv with the
// registry's date in its header. Review the diff, run the tests, and update the paragraph above.
//
// # Display names
//
// Name gives the name people use on labels: a curated table for the makers sites have (labels.go),
// else the registered name less legal-form suffixes and "(formerly ...)" notes (Display).
package enterprise

//go:generate go run ./gen -src=$ENTERPRISE_NUMBERS -out=registry.tsv

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Number returns the private enterprise number of an OID under .1.3.6.1.4.1 (with or without the
// leading dot); ok is false for any other OID.
func Number(oid string) (uint32, bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(oid, "."), "1.3.6.1.4.1.")
	if !ok {
		return 0, false
	}
	arc, _, _ := strings.Cut(rest, ".")
	n, err := strconv.ParseUint(arc, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// Name returns the name people know the organisation that owns n by ("APC", "Cisco", "Vertiv"), or
// "" when the registry assigns n to nobody.
func Name(n uint32) string {
	if label, ok := labels[n]; ok {
		return label
	}
	return Display(Registered(n))
}

// OfOID is Name(Number(oid)), or "".
func OfOID(oid string) string {
	n, ok := Number(oid)
	if !ok {
		return ""
	}
	return Name(n)
}

// Registered returns the organisation n is registered to, as the registry writes it
// ("American Power Conversion Corp."), or "" when n is unassigned or reserved.
func Registered(n uint32) string {
	t, err := loaded()
	if err != nil {
		return ""
	}
	return t.name(n)
}

//go:embed registry.tsv
var registryTSV string

// table indexes the names in a registry text without copying them: at[n] is one past the offset of
// n's name in text, 0 when n has none.
type table struct {
	text string
	at   []uint32
	n    int // entries
}

func (t *table) name(n uint32) string {
	if int64(n) >= int64(len(t.at)) || t.at[n] == 0 {
		return ""
	}
	s := t.text[t.at[n]-1:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// maxNumber bounds the index (4 bytes a number): IANA assigns numbers in sequence and is past 66,000.
const maxNumber = 1 << 22

// parse indexes a registry text: '#' lines and empty lines aside, "number<TAB>name" lines in
// increasing order of number.
func parse(text string) (*table, error) {
	if uint64(len(text)) >= 1<<32-1 {
		return nil, errors.New("registry larger than 4 GiB")
	}
	// The last number is the largest: size the index once.
	size := 0
	for rest := strings.TrimRight(text, "\n"); rest != ""; {
		i := strings.LastIndexByte(rest, '\n')
		row := rest[i+1:]
		rest = rest[:max(i, 0)]
		if row == "" || row[0] == '#' {
			continue
		}
		num, _, _ := strings.Cut(row, "\t")
		if n, err := strconv.ParseUint(num, 10, 32); err == nil && n < maxNumber {
			size = int(n) + 1
		}
		break
	}
	t := &table{text: text, at: make([]uint32, size)}
	last := int64(-1)
	for off, line := 0, 1; off < len(text); line++ {
		end := strings.IndexByte(text[off:], '\n')
		if end < 0 {
			end = len(text) - off
		}
		row := text[off : off+end]
		start := off
		off += end + 1
		if row == "" || row[0] == '#' {
			continue
		}
		num, name, ok := strings.Cut(row, "\t")
		if !ok || name == "" || strings.TrimSpace(name) != name {
			return nil, fmt.Errorf("registry line %d: want number<TAB>name", line)
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || n >= maxNumber {
			return nil, fmt.Errorf("registry line %d: bad enterprise number %q", line, num)
		}
		if int64(n) <= last || n >= uint64(size) {
			return nil, fmt.Errorf("registry line %d: %d is out of order", line, n)
		}
		last = int64(n)
		t.at[n] = uint32(start+len(num)+1) + 1
		t.n++
	}
	return t, nil
}

var (
	loadOnce sync.Once
	loadedT  *table
	loadErr  error
)

// loaded is the embedded registry, indexed on first use. A test keeps it loadable; should it ever
// not be, every name is "" rather than a panic in a gateway.
func loaded() (*table, error) {
	loadOnce.Do(func() {
		loadedT, loadErr = parse(registryTSV)
	})
	return loadedT, loadErr
}
