package modbus

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/gateway"
)

func TestMatchModbus(t *testing.T) {
	lib, err := profile.Load(nil, profile.Codecs{Protocol: Spec().Profile})
	require.NoError(t, err)
	m := newMatcher(lib)
	name := func(p *gateway.Profile) string {
		if p == nil {
			return ""
		}
		return p.Name
	}
	for _, c := range []struct {
		name, vendor, product string
		models                []int
		want                  string
	}{
		{"FC43 vendor and product", "ACME", "EM100", nil, "acme-em100"},
		{"product must hold too", "ACME", "DP55", nil, ""},
		{"regexes are anchored by the profile", "ACME Corp", "EM100", nil, ""},
		{"SunSpec single-phase", "", "", []int{1, 11, 12, 101, 120}, "sunspec-inverter"},
		{"SunSpec three-phase", "SMA", "", []int{1, 103}, "sunspec-inverter-3ph"},
		{"SunSpec common model alone", "", "", []int{1}, ""},
		{"nothing said", "", "", nil, ""},
		{"meters that say nothing are named in config, not matched", "", "", []int{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, name(m.match(c.vendor, c.product, c.models)))
		})
	}
	for _, p := range lib.List() {
		require.Equal(t, Protocol, p.Protocol, "a library loaded with the Modbus codec alone holds only Modbus profiles")
	}
}
