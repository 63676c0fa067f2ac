package tomlx

import (
	"slices"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"
)

// tricky holds TOML that a naive line scanner gets wrong: headers inside
// strings, comments with brackets, multi-line strings and arrays, quoted and
// dotted keys, nested arrays of tables.
const tricky = `# [fake] header in a comment
a = """
[[not.a.table]]
x = 1 ""
"""
b = '''it's
''''
"q.k" = 'lit # not a comment'
"esc\u0041\"" = 1
  c . d = [ # comment ]
    1, [2, 3],
    { e = "}" }, # more
  ]
t = 1979-05-27 07:32:00Z # datetime with a space

[[arr]]
x = 1
[arr.sub]
y = 2
[[arr.inner]]
z = 3
[[arr.inner]]
z = 4
[[arr]]
x = 5
[[arr.inner]]
z = 6
[ 'quoted table' . "x y" ]
k = { m = { n = 1 }, o = [ {p = 2} ] }
`

func TestIndex(t *testing.T) {
	ix := buildIndex([]byte(tricky))
	tests := []struct {
		path      string
		line, col int
	}{
		{"a", 2, 5},
		{"b", 6, 5},
		{`"q.k"`, 8, 9},
		{`"escA\""`, 9, 17},
		{"c", 10, 3},
		{"c.d", 10, 11},
		{"c.d[0]", 11, 5},
		{"c.d[1]", 11, 8},
		{"c.d[1][1]", 11, 12},
		{"c.d[2]", 12, 5},
		{"c.d[2].e", 12, 11},
		{"t", 14, 5},
		{"arr", 16, 1},
		{"arr[0]", 16, 1},
		{"arr[0].x", 17, 5},
		{"arr[0].sub", 18, 1},
		{"arr[0].sub.y", 19, 5},
		{"arr[0].inner[1]", 22, 1},
		{"arr[0].inner[1].z", 23, 5},
		{"arr[1].x", 25, 5},
		{"arr[1].inner[0].z", 27, 5},
		{`"quoted table"."x y"`, 28, 1},
		{`"quoted table"."x y".k.m.n`, 29, 17},
		{`"quoted table"."x y".k.o[0].p`, 29, 33},
	}
	for _, tt := range tests {
		l, c, ok := ix.valuePos(tt.path)
		require.True(t, ok, "%s not indexed; have %v", tt.path, keysOf(ix))
		require.Equal(t, [2]int{tt.line, tt.col}, [2]int{l, c}, tt.path)
	}
	requireIndexed(t, []byte(tricky), ix)
}

func keysOf(ix *index) []string {
	var ks []string
	for k := range ix.spans {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// requireIndexed checks that every key path the TOML library decoded from data
// has a position in ix, so no error about it would come out unplaced.
func requireIndexed(t testing.TB, data []byte, ix *index) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if path != "" {
			if _, ok := ix.spans[path]; !ok {
				t.Fatalf("%q decodes but %s is not indexed; have %v", data, path, keysOf(ix))
			}
		}
		switch x := v.(type) {
		case map[string]any:
			for k, el := range x {
				walk(JoinKey(path, k), el)
			}
		case []map[string]any:
			for i, el := range x {
				walk(JoinIndex(path, i), el)
			}
		case []any:
			for i, el := range x {
				walk(JoinIndex(path, i), el)
			}
		}
	}
	walk("", raw)
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:        "plain",
		`a\tb`:         "a\tb",
		`\u00e9\x41\e`: "éA\x1b",
		`\U0001F600`:   "😀",
	} {
		got, ok := unescape(in)
		require.True(t, ok, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{`\`, `\q`, `\u12`, `\x4`} {
		_, ok := unescape(in)
		require.False(t, ok, in)
	}
}
