package tomlx

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml reports where syntax errors are, but not where keys and values are: MetaData.Undecoded
// lists unknown keys without positions, and its key positions are private and keyed without
// array-of-tables indices (every [[discovery.snmp]] overwrites the last). So this file indexes the source
// text itself. It only ever runs on text that toml.Decode has already accepted, which keeps it small: it
// never has to diagnose anything, only skip strings, comments, arrays and inline tables correctly and
// track which table it is in. When it cannot place something, the error is placed at the nearest parent
// it could place, or reported without a position rather than at a wrong one.

// span is where one key path appears in the source, as byte offsets.
type span struct {
	key int // offset of the key (or of the '[' of a table header); -1 if none
	val int // offset of the value; -1 if none (tables)
}

// index maps a formatted key path ("discovery.snmp[0].targets[1]") to where it is.
type index struct {
	data  []byte
	spans map[string]span
}

// pos returns the line and column (1-based, columns in characters) of a byte offset.
func (ix *index) pos(off int) (line, col int) {
	if ix == nil || off < 0 || off > len(ix.data) {
		return 0, 0
	}
	line = 1
	start := 0
	for i := 0; i < off; i++ {
		if ix.data[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, utf8.RuneCount(ix.data[start:off]) + 1
}

// valuePos is where the value of path is, falling back to where its key is.
func (ix *index) valuePos(path string) (line, col int, ok bool) {
	if ix == nil {
		return 0, 0, false
	}
	s, found := ix.spans[path]
	if !found {
		return 0, 0, false
	}
	off := s.val
	if off < 0 {
		off = s.key
	}
	if off < 0 {
		return 0, 0, false
	}
	line, col = ix.pos(off)
	return line, col, true
}

// keyPos is where the key of path (or the header of table path) is.
func (ix *index) keyPos(path string) (line, col int, ok bool) {
	if ix == nil {
		return 0, 0, false
	}
	s, found := ix.spans[path]
	if !found || s.key < 0 {
		return 0, 0, false
	}
	line, col = ix.pos(s.key)
	return line, col, true
}

// fmtSegment writes one key segment the way a user would type it: bare when
// it can be, quoted otherwise, so "a.b" stays distinguishable from a.b.
func fmtSegment(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return strconv.Quote(s)
		}
	}
	return s
}

// JoinKey appends a key segment to a formatted path.
func JoinKey(path, seg string) string {
	if path == "" {
		return fmtSegment(seg)
	}
	return path + "." + fmtSegment(seg)
}

// JoinIndex appends an array index to a formatted path.
func JoinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// scanner walks TOML text that is known to be valid.
type scanner struct {
	d   []byte
	i   int
	ix  *index
	arr map[string]int // array-of-tables path -> number of elements so far
}

// buildIndex indexes data. It never panics, whatever data holds: on anything
// it does not understand it stops and keeps what it found so far.
func buildIndex(data []byte) *index {
	ix := &index{data: data, spans: map[string]span{}}
	s := &scanner{d: data, ix: ix, arr: map[string]int{}}
	s.document()
	return ix
}

func (s *scanner) eof() bool { return s.i >= len(s.d) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.d[s.i]
}

func (s *scanner) has(prefix string) bool {
	return strings.HasPrefix(string(s.d[min(s.i, len(s.d)):]), prefix)
}

// record notes a span the first time a path is seen: a table defined implicitly
// by a dotted key and later by a header is best pointed at where it first appeared.
func (s *scanner) record(path string, sp span) {
	if _, ok := s.ix.spans[path]; !ok {
		s.ix.spans[path] = sp
	}
}

// skipSpace skips blanks, and also newlines and comments when nl is set.
func (s *scanner) skipSpace(nl bool) {
	for !s.eof() {
		switch c := s.d[s.i]; {
		case c == ' ' || c == '\t':
			s.i++
		case nl && (c == '\n' || c == '\r'):
			s.i++
		case nl && c == '#':
			s.skipComment()
		default:
			return
		}
	}
}

func (s *scanner) skipComment() {
	for !s.eof() && s.d[s.i] != '\n' {
		s.i++
	}
}

func (s *scanner) document() {
	table := "" // formatted path of the current table
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		start := s.i
		switch {
		case s.has("[["):
			s.i += 2
			segs, ok := s.key()
			if !ok {
				return
			}
			s.skipSpace(false)
			if !s.has("]]") {
				return
			}
			s.i += 2
			parent := s.resolve(segs[:len(segs)-1], start)
			arr := JoinKey(parent, segs[len(segs)-1])
			s.record(arr, span{key: start, val: -1})
			n := s.arr[arr]
			s.arr[arr] = n + 1
			table = JoinIndex(arr, n)
			s.record(table, span{key: start, val: -1})
		case s.peek() == '[':
			s.i++
			segs, ok := s.key()
			if !ok {
				return
			}
			s.skipSpace(false)
			if s.peek() != ']' {
				return
			}
			s.i++
			table = s.resolve(segs, start)
		default:
			if !s.keyValue(table) {
				return
			}
		}
	}
}

// resolve turns header segments into a formatted path, stepping into the last
// element of every array of tables on the way: that is how TOML attaches
// [discovery.snmp.v3] to the [[discovery.snmp]] above it.
func (s *scanner) resolve(segs []string, at int) string {
	path := ""
	for _, seg := range segs {
		path = JoinKey(path, seg)
		if n, ok := s.arr[path]; ok && n > 0 {
			path = JoinIndex(path, n-1)
		}
		s.record(path, span{key: at, val: -1})
	}
	return path
}

// keyValue scans `key = value` inside table and records both positions.
func (s *scanner) keyValue(table string) bool {
	start := s.i
	segs, ok := s.key()
	if !ok {
		return false
	}
	s.skipSpace(false)
	if s.peek() != '=' {
		return false
	}
	s.i++
	s.skipSpace(false)
	path := table
	for j, seg := range segs {
		path = JoinKey(path, seg)
		if j < len(segs)-1 {
			s.record(path, span{key: start, val: -1})
		}
	}
	s.record(path, span{key: start, val: s.i})
	return s.value(path)
}

// key scans a possibly dotted, possibly quoted key.
func (s *scanner) key() ([]string, bool) {
	var segs []string
	for {
		s.skipSpace(false)
		seg, ok := s.keySegment()
		if !ok {
			return nil, false
		}
		segs = append(segs, seg)
		s.skipSpace(false)
		if s.peek() != '.' {
			return segs, true
		}
		s.i++
	}
}

func (s *scanner) keySegment() (string, bool) {
	switch s.peek() {
	case '"':
		start := s.i
		if !s.skipBasic() {
			return "", false
		}
		return unescape(string(s.d[start+1 : s.i-1]))
	case '\'':
		start := s.i
		if !s.skipLiteral() {
			return "", false
		}
		return string(s.d[start+1 : s.i-1]), true
	}
	start := s.i
	for !s.eof() && isBare(s.d[s.i]) {
		s.i++
	}
	if s.i == start {
		return "", false
	}
	return string(s.d[start:s.i]), true
}

// isBare reports whether c can be part of a bare key. Non-ASCII bytes are let
// through so the scanner keeps its place if the TOML library accepts them.
func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c >= 0x80
}

// value scans one value, recording array elements and inline-table keys under path.
func (s *scanner) value(path string) bool {
	switch {
	case s.has(`"""`):
		return s.skipMulti(`"""`, true)
	case s.has(`'''`):
		return s.skipMulti(`'''`, false)
	case s.peek() == '"':
		return s.skipBasic()
	case s.peek() == '\'':
		return s.skipLiteral()
	case s.peek() == '[':
		s.i++
		for n := 0; ; n++ {
			s.skipSpace(true)
			if s.peek() == ']' {
				s.i++
				return true
			}
			if s.eof() {
				return false
			}
			el := JoinIndex(path, n)
			s.record(el, span{key: -1, val: s.i})
			if !s.value(el) {
				return false
			}
			s.skipSpace(true)
			if s.peek() == ',' {
				s.i++
			}
		}
	case s.peek() == '{':
		s.i++
		for {
			s.skipSpace(true) // TOML 1.1 allows newlines in inline tables
			if s.peek() == '}' {
				s.i++
				return true
			}
			if s.eof() || !s.keyValue(path) {
				return false
			}
			s.skipSpace(true)
			if s.peek() == ',' {
				s.i++
			}
		}
	}
	// Numbers, booleans and datetimes (which may hold a space) end at a
	// separator, a comment or the end of the line.
	start := s.i
	for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.d[s.i])) {
		s.i++
	}
	return s.i > start
}

func (s *scanner) skipBasic() bool {
	s.i++ // opening quote
	for !s.eof() {
		switch s.d[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return true
		case '\n':
			return false
		default:
			s.i++
		}
	}
	return false
}

func (s *scanner) skipLiteral() bool {
	s.i++
	for !s.eof() {
		switch s.d[s.i] {
		case '\'':
			s.i++
			return true
		case '\n':
			return false
		}
		s.i++
	}
	return false
}

// skipMulti skips a multi-line string; up to two quotes may sit right before
// the closing delimiter and belong to the content.
func (s *scanner) skipMulti(delim string, escapes bool) bool {
	s.i += 3
	for !s.eof() {
		if escapes && s.d[s.i] == '\\' {
			s.i += 2
			continue
		}
		if s.has(delim) {
			s.i += 3
			for k := 0; k < 2 && s.peek() == delim[0]; k++ {
				s.i++
			}
			return true
		}
		s.i++
	}
	return false
}

// unescape decodes the escapes of a TOML basic string (1.0 plus 1.1's \e and \xHH).
func unescape(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i >= len(s) {
			return "", false
		}
		hex := 0
		switch s[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"':
			b.WriteByte('"')
		case '\\':
			b.WriteByte('\\')
		case 'x':
			hex = 2
		case 'u':
			hex = 4
		case 'U':
			hex = 8
		default:
			return "", false
		}
		if hex > 0 {
			if i+1+hex > len(s) {
				return "", false
			}
			n, err := strconv.ParseUint(s[i+1:i+1+hex], 16, 32)
			if err != nil {
				return "", false
			}
			b.WriteRune(rune(n))
			i += hex
		}
	}
	return b.String(), true
}
