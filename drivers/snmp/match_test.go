package snmp

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/gateway"
)

// testMatcher loads the embedded SNMP profiles and those of testdata/match.
func testMatcher(t testing.TB) (*profile.Library, *matcher) {
	t.Helper()
	lib, err := profile.Load([]string{"testdata/match"}, profile.Codecs{Protocol: Spec().Profile})
	require.NoError(t, err)
	m, err := newMatcher(lib)
	require.NoError(t, err)
	return lib, m
}

const (
	oidA          = ".1.3.6.1.4.1.5.1.0"
	oidB          = ".1.3.6.1.4.1.5.2.0"
	upsIdentMfr   = ".1.3.6.1.2.1.33.1.1.1.0"
	prtGeneralSer = ".1.3.6.1.2.1.43.5.1.1.17.1"
)

func answers(oids ...string) func(string) bool {
	return func(o string) bool { return slices.Contains(oids, o) }
}

func TestMatch(t *testing.T) {
	_, m := testMatcher(t)

	cases := []struct {
		name    string
		oid     string
		descr   string
		present func(string) bool
		want    string // "" for nil
	}{
		// 1. The longest sysObjectID prefix wins, counted in whole arcs.
		{"longest prefix", ".1.3.6.1.4.1.400000009.1.1208", "", nil, "vendor-model"},
		{"exact oid is its own prefix", ".1.3.6.1.4.1.400000009.1.1208.3", "", nil, "vendor-model"},
		{"second of a profile's prefixes", ".1.3.6.1.4.1.400000009.5.1", "", nil, "vendor-series"},
		{"shorter prefix", ".1.3.6.1.4.1.400000009.2", "", nil, "vendor"},
		{"no leading dot from the device", "1.3.6.1.4.1.400000009.2", "", nil, "vendor"},
		{"whole arcs: .400000009 is not a prefix of .4000000091", ".1.3.6.1.4.1.4000000091.2", "", nil, Fallback},
		{"whole arcs: .99 is not .999", ".1.3.6.1.4.1.999.3", "", nil, Fallback},
		{"other vendor", ".1.3.6.1.4.1.99.3", "", nil, "other-vendor"},
		{"prefix beats sys_descr and present", ".1.3.6.1.4.1.400000009.2", "Linux box 6.1", answers(oidA, oidB), "vendor"},
		{"longer prefix beats sys_descr", ".1.3.6.1.4.1.400000009.1.1208", "Cisco IOS Software", nil, "vendor-model"},
		// 2. Then a sys_descr rule beats none.
		{"sys_descr breaks a prefix tie", ".1.3.6.1.4.1.400000009.1.55", "Cisco IOS Software, C2960", nil, "vendor-series-descr"},
		{"sys_descr that does not hold", ".1.3.6.1.4.1.400000009.1.55", "Junos", nil, "vendor-series"},
		{"every condition must hold", ".1.3.6.1.4.1.400000009.7", "Cisco IOS Software", nil, "vendor"},
		{"sys_descr alone", ".1.3.6.1.4.1.8072.3.2.10", "Linux box 6.1", nil, "linux"},
		{"sys_descr beats more present", "", "Linux box 6.1", answers(oidA, oidB), "linux-with-a"},
		// 3. Then more present conditions beat fewer.
		{"sys_descr with present beats sys_descr", ".1.3.6.1.4.1.8072.3.2.10", "Linux box 6.1", answers(oidA), "linux-with-a"},
		{"two present beat one", ".1.3.6.1.4.1.311.1", "Windows", answers(oidA, oidB), "has-a-and-b"},
		{"one present", ".1.3.6.1.4.1.311.1", "Windows", answers(oidA), "has-a"},
		{"nil present answers nothing", ".1.3.6.1.4.1.311.1", "Windows", nil, Fallback},
		// 4. Then the name.
		{"tie broken by name", ".1.3.6.1.4.1.77.1", "", nil, "tie-a"},
		// Fallback and nothing.
		{"answered, fits nothing", ".1.3.6.1.4.1.311.1", "Windows", answers(), Fallback},
		{"only a sysDescr", "", "something", nil, Fallback},
		{"said nothing", "", "", answers(oidA), "has-a"},
		{"said nothing, answered nothing", "", "", nil, ""},
		// The embedded profiles.
		{"acme display", ".1.3.6.1.4.1.99999.1.55", "ACME DisplayPro 55", nil, "acme-display"},
		{"net-snmp posing as an acme display", ".1.3.6.1.4.1.99999.1.55", "Linux test 6.1", nil, "acme-display"},
		{"acme projector", ".1.3.6.1.4.1.99999.2.4", "", nil, "acme-projector"},
		{"acme ups beats ups-mib", ".1.3.6.1.4.1.99999.3.15", "", answers(upsIdentMfr), "acme-ups"},
		{"acme ups even without ups-mib", ".1.3.6.1.4.1.99999.3.15", "", nil, "acme-ups"},
		{"rfc 1628 ups", ".1.3.6.1.4.1.50000.1", "Some UPS network card", answers(upsIdentMfr), "ups-mib"},
		{"apc ups beats rfc 1628", ".1.3.6.1.4.1.318.1.3.27", "APC Web/SNMP Management Card", answers(upsIdentMfr), "apc-ups"},
		{"printer", ".1.3.6.1.4.1.11.2.3.9.1", "HP ETHERNET MULTI-ENVIRONMENT", answers(prtGeneralSer), "printer-mib"},
		{"acme arc boundary", ".1.3.6.1.4.1.99999.1.550", "", nil, Fallback},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := m.match(gateway.Identity{SysObjectID: tc.oid, SysDescr: tc.descr}, tc.present)
			if tc.want == "" {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.Equal(t, tc.want, got.Name)
		})
	}
}

func TestMatchBaseNeverMatches(t *testing.T) {
	lib, m := testMatcher(t)
	for _, p := range lib.List() {
		if p.Match != nil {
			continue
		}
		// Whatever a device says, a base is never the answer (mib2 only as the fallback).
		for _, id := range []gateway.Identity{{}, {SysObjectID: ".1.3"}, {SysDescr: p.Name}} {
			got := m.match(id, func(string) bool { return true })
			if got != nil && got.Name == p.Name {
				require.Equal(t, Fallback, p.Name, "base %s matched %+v", p.Name, id)
			}
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool, and so regexp, allocate")
	}
	_, m := testMatcher(t)
	present := answers(oidA, upsIdentMfr)
	ids := []gateway.Identity{
		{SysObjectID: ".1.3.6.1.4.1.400000009.1.55", SysDescr: "Cisco IOS Software"},
		{SysObjectID: ".1.3.6.1.4.1.99999.3.15"},
		{SysObjectID: ".1.3.6.1.4.1.8072.3.2.10", SysDescr: "Linux box 6.1"},
		{SysObjectID: ".1.3.6.1.4.1.311.1", SysDescr: "Windows"},
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, id := range ids {
			m.match(id, present)
		}
	})
	require.Zero(t, allocs)
}

func BenchmarkMatch(b *testing.B) {
	_, m := testMatcher(b)
	answered := map[string]bool{upsIdentMfr: true}
	present := func(o string) bool { return answered[o] }
	ids := []gateway.Identity{
		{SysObjectID: ".1.3.6.1.4.1.99999.1.55", SysDescr: "ACME DisplayPro 55"},
		{SysObjectID: ".1.3.6.1.4.1.318.1.3.27", SysDescr: "APC Web/SNMP Management Card"},
		{SysObjectID: ".1.3.6.1.4.1.400000009.1.1208", SysDescr: "Cisco IOS Software, C2960"},
		{SysObjectID: ".1.3.6.1.4.1.8072.3.2.10", SysDescr: "Linux box 6.1.0 #1 SMP"},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if m.match(ids[i%len(ids)], present) == nil {
			b.Fatal("no match")
		}
	}
}
