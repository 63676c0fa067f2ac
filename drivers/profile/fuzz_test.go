package profile

import (
	"errors"
	"github.com/edgegw/edgegw/gateway"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"
)

// Errors may also name an embedded file: a fuzz profile that replaces a base can break the embedded
// profiles that extend it (a cycle, a clash), and that is where the error belongs.
var errorFormat = regexp.MustCompile(`^(fuzz\.toml|embedded:[a-z0-9-]+\.toml):[1-9][0-9]*:[1-9][0-9]*: \S`)

// FuzzParse checks that no input makes Parse panic, that every error it returns names fuzz.toml:line:col
// within the input, that what it accepts is normalised, and that the position scanner understood every
// key of every document toml accepts. Seeds: testdata/fuzz/FuzzParse and the embedded profiles.
func FuzzParse(f *testing.F) {
	entries, err := embedded.ReadDir("profiles")
	require.NoError(f, err)
	for _, e := range entries {
		data, err := embedded.ReadFile("profiles/" + e.Name())
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Parse("fuzz.toml", data)
		if err != nil {
			lines := strings.Count(string(data), "\n") + 1
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) {
				t.Fatalf("not a joined error: %T", err)
			}
			for _, e := range joined.Unwrap() {
				var pe *Error
				if !errors.As(e, &pe) {
					t.Fatalf("not an *Error: %T %v", e, e)
				}
				if !errorFormat.MatchString(pe.Error()) {
					t.Fatalf("badly placed error: %q", pe.Error())
				}
				if pe.Source == "fuzz.toml" && pe.Line > lines {
					t.Fatalf("error past the end (%d lines): %q", lines, pe.Error())
				}
			}
			return
		}
		for _, p := range ps {
			if !profileNameRE.MatchString(p.Name) || p.Kind == "" || p.Source != "fuzz.toml" {
				t.Fatalf("accepted bad profile %+v", p)
			}
			for _, pt := range p.Points {
				if !memberNameRE.MatchString(pt.Name) || !pt.Type.Valid() {
					t.Fatalf("accepted bad point %+v", pt)
				}
				switch p.ProtocolName() {
				case "snmp":
					if _, err := normalizeOID(pt.OID); err != nil || !strings.HasPrefix(pt.OID, ".") {
						t.Fatalf("accepted bad oid %q", pt.OID)
					}
				case "modbus":
					r := pt.Register
					if r == nil || r.Table == "" || int(r.Address)+r.Words()-1 > 65535 || (r.Format == gateway.FormatString && r.Count < 1) {
						t.Fatalf("accepted bad register %+v", r)
					}
				case "mdns":
					if !txtKeyRE.MatchString(pt.TXT) {
						t.Fatalf("accepted bad TXT key %q", pt.TXT)
					}
				}
			}
		}
		checkScannerCoverage(t, string(data))
	})
}

// checkScannerCoverage fails if toml accepts data but the position scanner missed one of its keys.
func checkScannerCoverage(t *testing.T, data string) {
	t.Helper()
	var doc map[string]any
	md, err := toml.Decode(data, &doc)
	if err != nil {
		return
	}
	ix := indexPositions(data)
	seen := map[string]bool{}
	for k := range ix.keys {
		seen[pathKey(withoutIndices(strings.Split(k, "\x00")))] = true
	}
	for _, k := range md.Keys() {
		if !seen[pathKey(withoutIndices(k))] {
			t.Fatalf("scanner missed key %q in %q", k.String(), data)
		}
	}
}

// withoutIndices drops the parts of a path that are all digits: array indices on the scanner's side
// (and, equally on both sides, integer keys).
func withoutIndices(path []string) []string {
	var out []string
	for _, p := range path {
		if _, err := strconv.ParseUint(p, 10, 64); err == nil {
			continue
		}
		out = append(out, p)
	}
	return out
}
