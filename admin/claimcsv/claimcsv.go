// Package claimcsv reads the claims files that facilities staff upload or pass to `edgegw claim import`:
// one `MAC,Serial[,Group]` row per line, as spreadsheets write them. It belongs to the admin side (the
// page, the API, the CLI); the gateway core only takes the rows it yields (gateway.ClaimRow).
package claimcsv

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/edgegw/edgegw/gateway"
)

// RowError is a row of a claims CSV that could not be used: its line number and why.
type RowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Error reads like `line 7: mac "zz" is not a MAC address`.
func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// File is a parsed claims file: the usable rows and the bad ones, both in file order, and how many
// rows were dropped as identical repeats of an earlier row.
type File struct {
	Rows       []gateway.ClaimRow `json:"rows"`
	Errors     []RowError         `json:"errors,omitempty"`
	Duplicates int                `json:"duplicates,omitempty"`
}

// Limits of a claims file.
const (
	// MaxRows is the most rows (usable, bad or duplicate; not blank lines, comments or the
	// header) a claims file may have.
	MaxRows = 100_000
	// MaxLineBytes is the longest line of a claims file, without its line end.
	MaxLineBytes = 4096
)

// ErrTooManyRows is returned (wrapped) by Parse for a file over MaxRows rows.
var ErrTooManyRows = fmt.Errorf("more than %d rows in a claims file", MaxRows)

// Parse reads a claims file: one `MAC,Serial[,Group]` row per line, with or without a header
// row. It tolerates a UTF-8 BOM, CRLF line ends, blank lines, '#' comment lines, spaces around fields,
// quoted fields (with commas in them; a field may not span lines) and empty trailing fields. A header
// is recognised in the first row when none of its fields is a MAC and one names the MAC column ("MAC",
// "mac address", "MAC_Address", "Device MAC", ...); its MAC, Serial ("Serial", "Serial Number", "S/N",
// ...) and Group columns are used wherever they are, and other columns are ignored.
//
// A bad row never stops the others: it becomes a RowError with its line number. A MAC repeated
// with the same serial (as SameSerial sees it) and group is dropped and counted in Duplicates; repeated
// with another serial or group it is an error "duplicate of line N", and the first row stands.
//
// The error is only for a failure to read r, or for a file with more than MaxRows rows (then
// wrapping ErrTooManyRows); what was parsed up to there is returned with it.
func Parse(r io.Reader) (File, error) {
	p := parser{
		in:    bufio.NewReaderSize(r, 64<<10),
		line:  bufio.NewReaderSize(nil, 4096),
		first: map[string]gateway.ClaimRow{},
	}
	return p.parse()
}

// parser holds the state of one Parse.
type parser struct {
	in    *bufio.Reader
	line  *bufio.Reader // reset to each line; csv.NewReader reuses it instead of allocating a buffer
	out   File
	first map[string]gateway.ClaimRow // the first row of each MAC
	n     int                         // rows counted against MaxRows

	sawRow bool
	header []string // the header's fields, normalised by headerWord; nil without a header

	// From the header: where the MAC, serial and group are (-1: nowhere), and the most fields a row
	// may have.
	macCol, serialCol, groupCol, maxCols int
}

func (p *parser) parse() (File, error) {
	if b, _ := p.in.Peek(3); bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		p.in.Discard(3)
	} else if bytes.HasPrefix(b, []byte("\xff\xfe")) || bytes.HasPrefix(b, []byte("\xfe\xff")) {
		p.out.Errors = append(p.out.Errors, RowError{1, "the file is UTF-16 text: save it as CSV (UTF-8)"})
		return p.out, nil
	}
	for lineNo := 1; ; lineNo++ {
		text, tooLong, err := p.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			// A line cut short by a read error is not used: a truncated serial must not be claimed.
			return p.out, fmt.Errorf("read claims: %w", err)
		}
		if err != nil && text == "" && !tooLong {
			return p.out, nil // EOF after the last line end
		}
		if rerr := p.row(lineNo, text, tooLong); rerr != nil {
			return p.out, rerr
		}
		if err != nil {
			return p.out, nil // EOF: the last line had no line end
		}
	}
}

// readLine returns the next line without its line end. A line longer than MaxLineBytes is read to
// its end and thrown away (tooLong), so a huge line costs no memory. err is io.EOF with the last line
// when it has no line end, and with "" when nothing is left.
func (p *parser) readLine() (text string, tooLong bool, err error) {
	var buf []byte
	size := 0
	for {
		chunk, rerr := p.in.ReadSlice('\n')
		size += len(chunk)
		if size > MaxLineBytes+2 { // room for "\r\n"
			tooLong, buf = true, nil
		} else {
			buf = append(buf, chunk...)
		}
		if errors.Is(rerr, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			return "", true, rerr
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if len(buf) > MaxLineBytes {
			return "", true, rerr
		}
		return string(buf), false, rerr
	}
}

// row handles one line; the error is only ErrTooManyRows.
func (p *parser) row(lineNo int, text string, tooLong bool) error {
	bad := func(format string, args ...any) {
		p.out.Errors = append(p.out.Errors, RowError{lineNo, fmt.Sprintf(format, args...)})
	}
	count := func() error { // a row, good or bad, counts against MaxRows
		if p.n++; p.n > MaxRows {
			return fmt.Errorf("line %d: %w", lineNo, ErrTooManyRows)
		}
		return nil
	}
	trimmed := strings.TrimSpace(text)
	switch {
	case tooLong:
		if err := count(); err != nil {
			return err
		}
		bad("line is longer than %d bytes", MaxLineBytes)
		return nil
	case trimmed == "" || trimmed[0] == '#':
		return nil
	case unclosedQuote(trimmed):
		if err := count(); err != nil {
			return err
		}
		bad("a quoted field is not closed on this line")
		return nil
	}
	p.line.Reset(strings.NewReader(trimmed))
	cr := csv.NewReader(p.line)
	cr.FieldsPerRecord, cr.LazyQuotes, cr.TrimLeadingSpace = -1, true, true
	fields, err := cr.Read()
	if err != nil { // not expected with LazyQuotes on one non-blank line
		if err := count(); err != nil {
			return err
		}
		bad("not a CSV row: %v", err)
		return nil
	}
	empty := true
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
		empty = empty && fields[i] == ""
	}
	if empty { // ",,," as spreadsheets write blank rows
		return nil
	}
	for len(fields) > 2 && fields[len(fields)-1] == "" {
		fields = fields[:len(fields)-1]
	}
	if !p.sawRow {
		p.sawRow = true
		if p.detectHeader(fields) {
			return nil
		}
	} else if p.header != nil && p.isHeaderAgain(fields) {
		return nil // the header repeated, as when files are concatenated
	}
	if err := count(); err != nil {
		return err
	}

	var macField, serialField, groupField string
	if p.header == nil {
		if len(fields) < 2 || len(fields) > 3 {
			bad("%d %s: want MAC,Serial[,Group]", len(fields), plural(len(fields), "field", "fields"))
			return nil
		}
		macField, serialField = fields[0], fields[1]
		if len(fields) == 3 {
			groupField = fields[2]
		}
	} else {
		if len(fields) > p.maxCols {
			bad("%d fields: want at most %d, as the header says", len(fields), p.maxCols)
			return nil
		}
		macField, serialField, groupField = fieldAt(fields, p.macCol), fieldAt(fields, p.serialCol), fieldAt(fields, p.groupCol)
	}
	mac, err := gateway.NormalizeMAC(macField)
	if err != nil {
		bad("%v", err)
		return nil
	}
	serial, err := gateway.NormalizeSerial(serialField)
	if err != nil {
		bad("%v", err)
		return nil
	}
	group, err := gateway.NormalizeGroup(groupField)
	if err != nil {
		bad("%v", err)
		return nil
	}
	row := gateway.ClaimRow{Line: lineNo, MAC: mac, Serial: serial, Group: group}
	if prev, dup := p.first[mac]; dup {
		switch {
		case !gateway.SameSerial(prev.Serial, serial):
			bad("duplicate of line %d: mac %s with serial %q there, %q here", prev.Line, mac, prev.Serial, serial)
		case prev.Group != group:
			bad("duplicate of line %d: mac %s in group %q there, %q here", prev.Line, mac, prev.Group, group)
		default:
			p.out.Duplicates++
		}
		return nil
	}
	p.first[mac] = row
	p.out.Rows = append(p.out.Rows, row)
	return nil
}

// detectHeader reports whether the first row is a header (no MAC in it, a column named as the MAC's)
// and, if so, takes its columns: the named MAC,
// Serial and Group columns; MAC and Serial default to the first columns not named otherwise, and a
// header of fewer than three columns leaves the third to the group. Columns that are none of these
// ("Address", "Model") are ignored.
func (p *parser) detectHeader(fields []string) bool {
	named := false
	words := make([]string, len(fields))
	for i, f := range fields {
		if _, err := gateway.NormalizeMAC(f); err == nil {
			return false
		}
		words[i] = headerWord(f)
		named = named || isMACColumn(words[i])
	}
	if !named {
		return false
	}
	p.header = words
	p.macCol, p.serialCol, p.groupCol = -1, -1, -1
	used := make([]bool, max(len(words), 3))
	for i, w := range words {
		switch {
		case p.macCol < 0 && isMACColumn(w):
			p.macCol = i
		case p.serialCol < 0 && isSerialColumn(w):
			p.serialCol = i
		case p.groupCol < 0 && isGroupColumn(w):
			p.groupCol = i
		default:
			continue
		}
		used[i] = true
	}
	free := func() int {
		for i, u := range used {
			if !u {
				used[i] = true
				return i
			}
		}
		return -1
	}
	if p.macCol < 0 {
		p.macCol = free()
	}
	if p.serialCol < 0 {
		p.serialCol = free()
	}
	p.maxCols = len(words)
	if p.groupCol < 0 && len(words) < 3 {
		p.groupCol = free()
		p.maxCols = 3
	}
	return true
}

// isHeaderAgain reports whether fields repeat the header row.
func (p *parser) isHeaderAgain(fields []string) bool {
	if len(fields) != len(p.header) {
		return false
	}
	for i, f := range fields {
		if headerWord(f) != p.header[i] {
			return false
		}
	}
	return true
}

// headerWord lower-cases a header field and keeps only its letters and digits: "Serial No." → "serialno".
func headerWord(f string) string {
	var b strings.Builder
	for _, r := range f {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// withoutQualifier drops a leading word such as "device" or "ethernet" from a header word.
func withoutQualifier(w string) string {
	for _, q := range []string{"device", "display", "unit", "product", "primary", "ethernet", "eth", "lan",
		"wired", "wifi", "wlan", "hardware", "hw", "claim", "target"} {
		if rest, ok := strings.CutPrefix(w, q); ok && rest != "" {
			return rest
		}
	}
	return w
}

func isMACColumn(w string) bool {
	switch withoutQualifier(w) {
	case "mac", "macaddress", "macaddr", "macid", "address48":
		return true
	}
	switch w {
	case "hwaddr", "hwaddress", "hardwareaddress", "ethernetaddress", "physicaladdress":
		return true
	}
	return false
}

func isSerialColumn(w string) bool {
	switch withoutQualifier(w) {
	case "serial", "serialnumber", "serialno", "serialnr", "serialnum", "sn", "sno", "snr":
		return true
	}
	return false
}

func isGroupColumn(w string) bool {
	switch withoutQualifier(w) {
	case "group", "groupname":
		return true
	}
	return false
}

// unclosedQuote reports whether a line ends inside a quoted field, read as encoding/csv reads it with
// LazyQuotes and TrimLeadingSpace: such a field would run on to the next line.
func unclosedQuote(line string) bool {
	i := 0
	for {
		for i < len(line) { // leading space, as unicode.IsSpace has it
			r, n := utf8.DecodeRuneInString(line[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		if i < len(line) && line[i] == '"' {
			i++
			for {
				j := strings.IndexByte(line[i:], '"')
				if j < 0 {
					return true
				}
				i += j + 1
				if i < len(line) && line[i] == '"' { // "" is a quote
					i++
					continue
				}
				if i >= len(line) || line[i] == ',' {
					break // closed
				}
				// a bare quote inside a quoted field: kept, still quoted
			}
		}
		j := strings.IndexByte(line[i:], ',')
		if j < 0 {
			return false
		}
		i += j + 1
	}
}

func fieldAt(fields []string, i int) string {
	if i < 0 || i >= len(fields) {
		return ""
	}
	return fields[i]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
