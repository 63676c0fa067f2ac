package gateway

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
)

// NormalizeMAC accepts a MAC address written aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff,
// aabb-ccdd-eeff, aabbcc-ddeeff or aabbccddeeff, in any case and with spaces around, and returns it in
// the lower-case colon form. It refuses anything else, and the broadcast, multicast (low bit of the
// first octet set) and all-zero addresses, with an error that says which, e.g.
// "mac 01:00:5e:00:00:01 is a multicast address".
func NormalizeMAC(s string) (string, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return "", errors.New("mac is empty")
	}
	hw, ok := parseMAC48(raw)
	if !ok {
		return "", fmt.Errorf("mac %q is not a MAC address", excerptForError(raw))
	}
	const hexDigits = "0123456789abcdef"
	var b [17]byte
	or, and := byte(0), byte(0xff)
	for i, o := range hw {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i], b[3*i+1] = hexDigits[o>>4], hexDigits[o&0xf]
		or |= o
		and &= o
	}
	mac := string(b[:])
	switch {
	case or == 0:
		return "", fmt.Errorf("mac %s is all zeros", mac)
	case and == 0xff:
		return "", fmt.Errorf("mac %s is the broadcast address", mac)
	case hw[0]&1 == 1:
		return "", fmt.Errorf("mac %s is a multicast address", mac)
	}
	return mac, nil
}

// parseMAC48 reads 12 hex digits written as one run or in equal groups of 2, 4 or 6 digits split by
// one separator (':', '-' or '.') used throughout.
func parseMAC48(s string) (hw [6]byte, ok bool) {
	var group int
	switch len(s) {
	case 12:
		group = 12
	case 17:
		group = 2
	case 14:
		group = 4
	case 13:
		group = 6
	default:
		return hw, false
	}
	var sep byte
	if group < 12 {
		sep = s[group]
		if sep != ':' && sep != '-' && sep != '.' {
			return hw, false
		}
	}
	n := 0 // hex digits read
	for i := 0; i < len(s); i++ {
		c := s[i]
		if group < 12 && i%(group+1) == group {
			if c != sep {
				return hw, false
			}
			continue
		}
		v, isHex := hexValue(c)
		if !isHex {
			return hw, false
		}
		hw[n/2] = hw[n/2]<<4 | v
		n++
	}
	return hw, n == 12
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// excerptForError shortens s for an error message, on a rune boundary.
func excerptForError(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// MaxSerialLen is the longest serial, and the longest group name, accepted, in characters.
const MaxSerialLen = 128

// NormalizeSerial trims spaces around a serial and refuses an empty one, one longer than MaxSerialLen
// characters, one that is not UTF-8 and one with control characters or invisible formatting characters
// (a zero-width space, a stray BOM), which would never match the serial a device reports.
func NormalizeSerial(s string) (string, error) {
	return normalizeClaimText("serial", s, true)
}

// SameSerial reports whether two serials are the same, compared trimmed and case-insensitively.
func SameSerial(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// normalizeClaimText trims s and checks it as a serial or group name.
func normalizeClaimText(what, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		if required {
			return "", fmt.Errorf("%s is empty", what)
		}
		return "", nil
	case !utf8.ValidString(s):
		return "", fmt.Errorf("%s %q is not UTF-8 text", what, excerptForError(s))
	case utf8.RuneCountInString(s) > MaxSerialLen:
		return "", fmt.Errorf("%s is longer than %d characters", what, MaxSerialLen)
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%s has a control character (%U at byte %d)", what, r, i)
		}
		if unicode.Is(unicode.Cf, r) {
			return "", fmt.Errorf("%s has an invisible formatting character (%U at byte %d)", what, r, i)
		}
	}
	return s, nil
}

// ClaimRow is one usable row of a claims CSV: its line number in the file (1-based), the MAC in the
// lower-case colon form, the trimmed serial and the group ("" when the row names none).
type ClaimRow struct {
	Line   int    `json:"line"`
	MAC    string `json:"mac"`
	Serial string `json:"serial"`
	Group  string `json:"group,omitempty"`
}

// ClaimRowError is a row of a claims CSV that could not be used: its line number and why.
type ClaimRowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Error reads like `line 7: mac "zz" is not a MAC address`.
func (e ClaimRowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ClaimsCSV is a parsed claims file: the usable rows and the bad ones, both in file order, and how many
// rows were dropped as identical repeats of an earlier row.
type ClaimsCSV struct {
	Rows       []ClaimRow      `json:"rows"`
	Errors     []ClaimRowError `json:"errors,omitempty"`
	Duplicates int             `json:"duplicates,omitempty"`
}

// Limits of a claims file.
const (
	// MaxClaimRows is the most rows (usable, bad or duplicate; not blank lines, comments or the
	// header) a claims file may have.
	MaxClaimRows = 100_000
	// MaxClaimLineBytes is the longest line of a claims file, without its line end.
	MaxClaimLineBytes = 4096
)

// ErrTooManyClaimRows is returned (wrapped) by ParseClaimsCSV for a file over MaxClaimRows rows.
var ErrTooManyClaimRows = fmt.Errorf("more than %d rows in a claims file", MaxClaimRows)

// ParseClaimsCSV reads a claims file: one `MAC,Serial[,Group]` row per line, with or without a header
// row. It tolerates a UTF-8 BOM, CRLF line ends, blank lines, '#' comment lines, spaces around fields,
// quoted fields (with commas in them; a field may not span lines) and empty trailing fields. A header
// is recognised in the first row when none of its fields is a MAC and one names the MAC column ("MAC",
// "mac address", "MAC_Address", "Device MAC", ...); its MAC, Serial ("Serial", "Serial Number", "S/N",
// ...) and Group columns are used wherever they are, and other columns are ignored.
//
// A bad row never stops the others: it becomes a ClaimRowError with its line number. A MAC repeated
// with the same serial (as SameSerial sees it) and group is dropped and counted in Duplicates; repeated
// with another serial or group it is an error "duplicate of line N", and the first row stands.
//
// The error is only for a failure to read r, or for a file with more than MaxClaimRows rows (then
// wrapping ErrTooManyClaimRows); what was parsed up to there is returned with it.
func ParseClaimsCSV(r io.Reader) (ClaimsCSV, error) {
	p := claimParser{
		in:    bufio.NewReaderSize(r, 64<<10),
		line:  bufio.NewReaderSize(nil, 4096),
		first: map[string]ClaimRow{},
	}
	return p.parse()
}

// claimParser holds the state of one ParseClaimsCSV.
type claimParser struct {
	in    *bufio.Reader
	line  *bufio.Reader // reset to each line; csv.NewReader reuses it instead of allocating a buffer
	out   ClaimsCSV
	first map[string]ClaimRow // the first row of each MAC
	n     int                 // rows counted against MaxClaimRows

	sawRow bool
	header []string // the header's fields, normalised by headerWord; nil without a header

	// From the header: where the MAC, serial and group are (-1: nowhere), and the most fields a row
	// may have.
	macCol, serialCol, groupCol, maxCols int
}

func (p *claimParser) parse() (ClaimsCSV, error) {
	if b, _ := p.in.Peek(3); bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		p.in.Discard(3)
	} else if bytes.HasPrefix(b, []byte("\xff\xfe")) || bytes.HasPrefix(b, []byte("\xfe\xff")) {
		p.out.Errors = append(p.out.Errors, ClaimRowError{1, "the file is UTF-16 text: save it as CSV (UTF-8)"})
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

// readLine returns the next line without its line end. A line longer than MaxClaimLineBytes is read to
// its end and thrown away (tooLong), so a huge line costs no memory. err is io.EOF with the last line
// when it has no line end, and with "" when nothing is left.
func (p *claimParser) readLine() (text string, tooLong bool, err error) {
	var buf []byte
	size := 0
	for {
		chunk, rerr := p.in.ReadSlice('\n')
		size += len(chunk)
		if size > MaxClaimLineBytes+2 { // room for "\r\n"
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
		if len(buf) > MaxClaimLineBytes {
			return "", true, rerr
		}
		return string(buf), false, rerr
	}
}

// row handles one line; the error is only ErrTooManyClaimRows.
func (p *claimParser) row(lineNo int, text string, tooLong bool) error {
	bad := func(format string, args ...any) {
		p.out.Errors = append(p.out.Errors, ClaimRowError{lineNo, fmt.Sprintf(format, args...)})
	}
	count := func() error { // a row, good or bad, counts against MaxClaimRows
		if p.n++; p.n > MaxClaimRows {
			return fmt.Errorf("line %d: %w", lineNo, ErrTooManyClaimRows)
		}
		return nil
	}
	trimmed := strings.TrimSpace(text)
	switch {
	case tooLong:
		if err := count(); err != nil {
			return err
		}
		bad("line is longer than %d bytes", MaxClaimLineBytes)
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
	mac, err := NormalizeMAC(macField)
	if err != nil {
		bad("%v", err)
		return nil
	}
	serial, err := NormalizeSerial(serialField)
	if err != nil {
		bad("%v", err)
		return nil
	}
	group, err := normalizeClaimText("group", groupField, false)
	if err != nil {
		bad("%v", err)
		return nil
	}
	row := ClaimRow{Line: lineNo, MAC: mac, Serial: serial, Group: group}
	if prev, dup := p.first[mac]; dup {
		switch {
		case !SameSerial(prev.Serial, serial):
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
func (p *claimParser) detectHeader(fields []string) bool {
	named := false
	words := make([]string, len(fields))
	for i, f := range fields {
		if _, err := NormalizeMAC(f); err == nil {
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
func (p *claimParser) isHeaderAgain(fields []string) bool {
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
