package profile

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPositions(t *testing.T) {
	data, err := os.ReadFile("testdata/tricky.toml")
	require.NoError(t, err)
	ix := indexPositions(string(data))
	cases := []struct {
		path     string
		key, val position
	}{
		{"top", position{2, 1}, position{2, 9}},
		{"profile", position{4, 1}, position{4, 1}},
		{"profile.0", position{4, 1}, position{4, 1}},
		{"profile.0.name", position{5, 1}, position{5, 8}},
		{"profile.0.description", position{6, 1}, position{6, 15}},
		{"profile.0.kind", position{11, 1}, position{11, 10}},
		{"profile.0.match", position{12, 1}, position{12, 1}},
		{"profile.0.match.sys_descr", position{12, 1}, position{12, 19}},
		{"profile.0.match.sys_object_ids", position{14, 1}, position{14, 26}},
		{"profile.0.match.sys_object_ids.0", position{14, 1}, position{15, 3}},
		{"profile.0.match.sys_object_ids.1", position{14, 1}, position{17, 3}},
		{"profile.0.identity", position{19, 1}, position{19, 14}},
		{"profile.0.identity.serial", position{19, 16}, position{19, 27}},
		{"profile.0.identity.model", position{19, 54}, position{19, 62}},
		{"profile.0.point.0", position{21, 1}, position{21, 1}},
		{"profile.0.point.0.oid", position{23, 2}, position{23, 8}},
		{"profile.0.point.0.when", position{27, 1}, position{27, 8}},
		{"profile.0.point.1.name", position{30, 1}, position{30, 10}},
		{"profile.0.point.1.enum.2", position{33, 20}, position{33, 26}},
		{"profile.0.point.1.enum.3", position{33, 37}, position{33, 41}},
		{"profile.0.point.1.writable", position{34, 1}, position{34, 12}},
		{"profile.1.name", position{37, 1}, position{37, 8}},
		{"profile.1.point", position{38, 1}, position{38, 9}},
		{"profile.1.point.1", position{38, 1}, position{40, 3}},
		{"profile.1.point.1.enum.1", position{40, 63}, position{40, 67}},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			path := strings.Split(tc.path, ".")
			require.Equal(t, tc.key, ix.key(path), "key")
			require.Equal(t, tc.val, ix.val(path), "value")
		})
	}

	_, err = Parse("tricky.toml", data)
	require.Equal(t, []string{
		`tricky.toml:2:1: unknown key "top" in the top level (known: profile)`,
		`tricky.toml:27:1: unknown key "when" in [[profile.point]] (known: name, oid, table, row_suffix, where, decimals_oid, type, scale, offset, unit, absent, enum, bits, writable, min, max, max_len)`,
		`tricky.toml:40:54: enum is only for type "enum", not "int"`,
	}, messages(t, err))
}

// TestPositionsCRLF checks that Windows line ends count as one line end, and that an unknown path falls
// back to its nearest known parent.
func TestPositionsCRLF(t *testing.T) {
	src := "[[profile]]\r\nname = \"a\"\r\n\r\n[profile.match]\r\n  present = [\"1.3\"]\r\n"
	ix := indexPositions(src)
	require.Equal(t, position{5, 3}, ix.key([]string{"profile", "0", "match", "present"}))
	require.Equal(t, position{5, 14}, ix.val([]string{"profile", "0", "match", "present", "0"}))
	require.Equal(t, position{4, 1}, ix.key([]string{"profile", "0", "match", "nothing", "here"}))
	require.Equal(t, position{1, 1}, ix.key([]string{"nothing"}))
}
