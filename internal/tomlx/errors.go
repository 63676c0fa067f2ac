package tomlx

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a document, placed where the user has to fix it: "file:line:col: key: msg",
// the shape editors and CI annotations understand.
type Error struct {
	Source string // the file's name as given to Parse; may be empty
	Line   int    // 1-based; 0 when the problem has no place in the file
	Col    int    // 1-based, in characters (a tab is one); 0 when Line is 0
	Key    string // the full key path ("discovery.snmp[0].timeout"); empty for syntax errors
	Msg    string // what is wrong; never holds a secret value
	Err    error  // the underlying error, for errors.Is; may be nil

	// AtKey places the error at the key rather than its value (an unknown key).
	AtKey bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in a document, sorted by position, so that a user fixes a file in one
// round instead of one error per attempt.
type Errors []*Error

// Error joins the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Sort orders errors by position; those without one (line 0) come first, as they are about the file
// as a whole.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// Describe names a decoded TOML value's type for a message, with the value itself when show is set and
// the value is short: `a string "5x"`, `an integer 60`, `a table`.
func Describe(raw any, show bool) string {
	var typ, val string
	switch x := raw.(type) {
	case string:
		typ, val = "a string", strconv.Quote(x)
		if len(x) > 40 {
			val = ""
		}
	case int64:
		typ, val = "an integer", strconv.FormatInt(x, 10)
	case float64:
		typ, val = "a float", strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		typ, val = "a boolean", strconv.FormatBool(x)
	case []any, []map[string]any:
		typ = "an array"
	case map[string]any:
		typ = "a table"
	case nil:
		typ = "nothing"
	default:
		if _, ok := raw.(interface{ Format(string) string }); ok {
			typ = "a date/time"
		} else {
			typ = fmt.Sprintf("a %T", raw)
		}
	}
	if show && val != "" {
		return typ + " " + val
	}
	return typ
}

// hint suggests the known key the user most likely meant: the same key in another case, or one a typo
// away; else it lists the known keys.
func hint(key string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf("; did you mean %s? (keys are case-sensitive)", k)
		}
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestDist && d < len(k)/2+1 {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %s?", best)
	}
	if len(known) > 0 {
		return " (known: " + strings.Join(known, ", ") + ")"
	}
	return ""
}

// editDistance is the Levenshtein distance; keys are short, so O(n*m) is fine.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // not worth comparing; a typo is never that long
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
