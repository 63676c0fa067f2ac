package profile

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml keeps key positions private (and one per key name, not per array element), so
// positions come from this scanner instead. It runs only on text that toml.Decode has already accepted,
// so it does not validate anything: it walks the document once and records, for every key path, where
// the key and its value start. A path is the list of keys from the root with array indices as decimal
// strings ("profile", "0", "point", "2", "oid"). If the scanner meets something it does not understand
// it stops; lookups then fall back to the nearest recorded parent, so an error always has a position.

// position is a 1-based line and column; columns count characters (runes), a tab is one.
type position struct{ line, col int }

// posIndex maps a joined key path to where its key and its value start.
type posIndex struct {
	keys map[string]position
	vals map[string]position
}

// pathKey joins a path into a map key. NUL cannot occur in a TOML key without an escape, and an escaped
// one only costs a wrong position, never a wrong decision.
func pathKey(path []string) string { return strings.Join(path, "\x00") }

// key returns where the key at path was written, or where its nearest recorded parent was.
func (ix *posIndex) key(path []string) position {
	for n := len(path); n > 0; n-- {
		if p, ok := ix.keys[pathKey(path[:n])]; ok {
			return p
		}
	}
	return position{1, 1}
}

// val returns where the value at path starts, falling back to its key.
func (ix *posIndex) val(path []string) position {
	if p, ok := ix.vals[pathKey(path)]; ok {
		return p
	}
	return ix.key(path)
}

type scanner struct {
	src       string
	i         int
	line, col int
	ix        *posIndex
	cur       []string       // the current table, resolved
	aot       map[string]int // array-of-tables path → elements so far
	depth     int
}

// indexPositions scans src, which must be TOML that toml.Decode accepted.
func indexPositions(src string) *posIndex {
	s := &scanner{
		src:  src,
		line: 1,
		col:  1,
		ix:   &posIndex{keys: map[string]position{}, vals: map[string]position{}},
		aot:  map[string]int{},
	}
	s.document()
	return s.ix
}

// stop is raised (and recovered in document) when the scanner is lost; what was indexed so far stays.
type stop struct{}

func (s *scanner) document() {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stop); !ok {
				panic(r)
			}
		}
	}()
	if strings.HasPrefix(s.src, "\uFEFF") {
		s.next()
	}
	for {
		s.skipBlank(true)
		if s.eof() {
			return
		}
		if s.peek() == '[' {
			s.header()
		} else {
			s.keyval(s.cur)
		}
		s.skipBlank(false)
		if !s.eof() && s.peek() != '\n' && s.peek() != '\r' {
			panic(stop{})
		}
	}
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

func (s *scanner) peek() byte {
	if s.eof() {
		panic(stop{})
	}
	return s.src[s.i]
}

func (s *scanner) pos() position { return position{s.line, s.col} }

// next moves past one rune.
func (s *scanner) next() {
	if s.eof() {
		panic(stop{})
	}
	c := s.src[s.i]
	if c == '\n' {
		s.line++
		s.col = 1
		s.i++
		return
	}
	_, w := utf8.DecodeRuneInString(s.src[s.i:])
	s.i += w
	s.col++
}

// skipBlank skips spaces, tabs and comments, and newlines too if nl.
func (s *scanner) skipBlank(nl bool) {
	for !s.eof() {
		switch s.src[s.i] {
		case ' ', '\t':
			s.next()
		case '\r', '\n':
			if !nl {
				return
			}
			s.next()
		case '#':
			for !s.eof() && s.src[s.i] != '\n' {
				s.next()
			}
		default:
			return
		}
	}
}

// header reads [a.b] or [[a.b]] and makes it the current table.
func (s *scanner) header() {
	at := s.pos()
	s.next()
	array := s.peek() == '['
	if array {
		s.next()
	}
	s.skipBlank(false)
	keys := s.keyParts()
	var path []string
	for n, k := range keys {
		path = append(path, k)
		pk := pathKey(path)
		if array && n == len(keys)-1 {
			c := s.aot[pk]
			s.aot[pk] = c + 1
			path = append(path, strconv.Itoa(c))
			if _, ok := s.ix.keys[pk]; !ok {
				s.ix.keys[pk] = at
			}
		} else if c, ok := s.aot[pk]; ok && c > 0 {
			path = append(path, strconv.Itoa(c-1))
		}
	}
	s.ix.keys[pathKey(path)] = at
	s.cur = path
	s.expect(']')
	if array {
		s.expect(']')
	}
}

func (s *scanner) expect(c byte) {
	s.skipBlank(false)
	if s.peek() != c {
		panic(stop{})
	}
	s.next()
}

// keyval reads key = value relative to base.
func (s *scanner) keyval(base []string) {
	at := s.pos()
	keys := s.keyParts()
	path := append(append([]string(nil), base...), keys...)
	// Intermediate tables of a dotted key are defined here too.
	for n := len(base) + 1; n < len(path); n++ {
		if _, ok := s.ix.keys[pathKey(path[:n])]; !ok {
			s.ix.keys[pathKey(path[:n])] = at
		}
	}
	s.ix.keys[pathKey(path)] = at
	s.expect('=')
	s.skipBlank(false)
	s.value(path)
}

// keyParts reads a dotted key and returns its parts, unquoted.
func (s *scanner) keyParts() []string {
	var parts []string
	for {
		s.skipBlank(false)
		parts = append(parts, s.simpleKey())
		s.skipBlank(false)
		if s.eof() || s.peek() != '.' {
			return parts
		}
		s.next()
	}
}

func (s *scanner) simpleKey() string {
	switch s.peek() {
	case '"':
		return s.basicString()
	case '\'':
		return s.literalString()
	}
	start := s.i
	for !s.eof() && isBareKeyByte(s.src[s.i]) {
		s.next()
	}
	if s.i == start {
		panic(stop{})
	}
	return s.src[start:s.i]
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value records where the value at path starts and moves past it.
func (s *scanner) value(path []string) {
	s.depth++
	defer func() { s.depth-- }()
	if s.depth > 100 {
		panic(stop{})
	}
	s.ix.vals[pathKey(path)] = s.pos()
	switch s.peek() {
	case '"':
		if strings.HasPrefix(s.src[s.i:], `"""`) {
			s.multiline('"')
		} else {
			s.basicString()
		}
	case '\'':
		if strings.HasPrefix(s.src[s.i:], `'''`) {
			s.multiline('\'')
		} else {
			s.literalString()
		}
	case '[':
		s.next()
		for n := 0; ; n++ {
			s.skipBlank(true)
			if s.peek() == ']' {
				break
			}
			elem := append(append([]string(nil), path...), strconv.Itoa(n))
			s.value(elem)
			s.skipBlank(true)
			if s.peek() == ',' {
				s.next()
			}
		}
		s.next()
	case '{':
		s.next()
		for {
			s.skipBlank(true)
			if s.peek() == '}' {
				break
			}
			s.keyval(path)
			s.skipBlank(true)
			if s.peek() == ',' {
				s.next()
			}
		}
		s.next()
	default:
		// A number, boolean or date: runs up to a delimiter. Local date-times may contain a space.
		start := s.i
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.i])) {
			s.next()
		}
		if s.i == start {
			panic(stop{})
		}
	}
}

// basicString reads "..." and returns its content with escapes resolved.
func (s *scanner) basicString() string {
	s.next()
	var b strings.Builder
	for {
		c := s.peek()
		switch c {
		case '"':
			s.next()
			return b.String()
		case '\n':
			panic(stop{})
		case '\\':
			s.next()
			s.escape(&b)
		default:
			start := s.i
			s.next()
			b.WriteString(s.src[start:s.i])
		}
	}
}

// escape reads what follows a backslash in a basic string.
func (s *scanner) escape(b *strings.Builder) {
	c := s.peek()
	s.next()
	simple := map[byte]byte{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', 'e': 0x1b, '"': '"', '\\': '\\'}
	if r, ok := simple[c]; ok {
		b.WriteByte(r)
		return
	}
	digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
	if digits == 0 || s.i+digits > len(s.src) {
		panic(stop{})
	}
	n, err := strconv.ParseUint(s.src[s.i:s.i+digits], 16, 32)
	if err != nil {
		panic(stop{})
	}
	for range digits {
		s.next()
	}
	b.WriteRune(rune(n))
}

func (s *scanner) literalString() string {
	s.next()
	start := s.i
	for s.peek() != '\'' {
		if s.peek() == '\n' {
			panic(stop{})
		}
		s.next()
	}
	v := s.src[start:s.i]
	s.next()
	return v
}

// multiline moves past a multi-line string, basic or literal, opened by three q. Up to two more q may
// directly precede the closing three.
func (s *scanner) multiline(q byte) {
	delim := strings.Repeat(string(q), 3)
	for range 3 {
		s.next()
	}
	for {
		if strings.HasPrefix(s.src[s.i:], delim) {
			for range 3 {
				s.next()
			}
			for extra := 0; extra < 2 && !s.eof() && s.src[s.i] == q; extra++ {
				s.next()
			}
			return
		}
		if q == '"' && s.peek() == '\\' {
			s.next()
		}
		s.next()
	}
}
