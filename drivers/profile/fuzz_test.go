package profile

import (
	"errors"
	"regexp"
	"strings"
	"testing"

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
		ps, err := Parse("fuzz.toml", data, testCodecs)
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
				// Every accepted point has an address of its protocol's kind, that says where it is.
				if pt.Address == nil || pt.Address.String() == "" {
					t.Fatalf("accepted a point without an address %+v", pt)
				}
			}
		}
	})
}
