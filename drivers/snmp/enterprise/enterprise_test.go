package enterprise

import (
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		oid  string
		want uint32
		ok   bool
	}{
		{".1.3.6.1.4.1.318.1.3.27", 318, true},
		{"1.3.6.1.4.1.9.1.1208", 9, true},
		{"1.3.6.1.4.1.8072", 8072, true}, // the enterprise's own arc
		{".1.3.6.1.4.1.0.1", 0, true},
		{"1.3.6.1.4.1.4294967295.1", 4294967295, true},
		{"1.3.6.1.4.1.4294967296.1", 0, false}, // past 32 bits
		{"1.3.6.1.4.1.", 0, false},
		{"1.3.6.1.4.1", 0, false},
		{".1.3.6.1.4.1..1", 0, false},
		{"1.3.6.1.4.1.x.1", 0, false},
		{"1.3.6.1.4.1.-5.1", 0, false},
		{"1.3.6.1.4.1.+5.1", 0, false},
		{"1.3.6.1.4.1.0x1f", 0, false},
		{"1.3.6.1.4.1.1_0", 0, false},
		{"1.3.6.1.4.1. 9.1", 0, false},
		{"1.3.6.1.2.1.1.2.0", 0, false}, // mib-2, not an enterprise
		{"1.3.6.1.4.2.9.1", 0, false},
		{"1.3.6.1.4.10.9", 0, false},
		{"0.0", 0, false},
		{"", 0, false},
		{"..1.3.6.1.4.1.9", 0, false},
		{"iso.3.6.1.4.1.9", 0, false},
	} {
		t.Run(tc.oid, func(t *testing.T) {
			n, ok := Number(tc.oid)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, n)
		})
	}
}

func TestName(t *testing.T) {
	for n, want := range map[uint32]string{
		// The makers a site has: the curated labels.
		9:     "Cisco",
		11:    "HP",
		47196: "HPE",
		14823: "Aruba",
		318:   "APC",
		5528:  "APC",
		534:   "Eaton",
		705:   "Eaton",
		13742: "Raritan",
		1718:  "Server Technology",
		476:   "Vertiv",
		21239: "Vertiv",
		3808:  "CyberPower",
		850:   "Tripp Lite",
		4555:  "Socomec",
		7783:  "Riello",
		2254:  "Delta",
		2011:  "Huawei",
		19536: "Panduit",
		3711:  "Panduit",
		38446: "Enlogic",
		7239:  "Legrand",
		21796: "HW group",
		3854:  "AKCP",
		20916: "AVTECH",
		2606:  "Rittal",
		18248: "Papouch",
		1602:  "Canon",
		2385:  "Sharp",
		253:   "Xerox",
		641:   "Lexmark",
		1347:  "Kyocera",
		1248:  "Epson",
		2435:  "Brother",
		367:   "Ricoh",
		18334: "Konica Minolta",
		13885: "Poly",
		12827: "Barco",
		25766: "Christie",
		119:   "NEC",
		258:   "Panasonic",
		122:   "Sony",
		18026: "Extron",
		368:   "Axis",
		6530:  "2N",
		26122: "Zenitel",
		2636:  "Juniper",
		674:   "Dell",
		14988: "MikroTik",
		8691:  "Moxa",
		4526:  "Netgear",
		41112: "Ubiquiti",
		8072:  "Net-SNMP",
		311:   "Microsoft",
		// Everyone else: the registered name, shortened.
		3:     "Carnegie Mellon",                                                  // unchanged
		15:    "Xylogics",                                                         // Xylogics, Inc.
		52:    "Enterasys Networks",                                               // Enterasys Networks Inc.
		95:    "Rockwell Automation",                                              // Rockwell Automation, Inc. (formerly 'Allen-Bradley Company')
		116:   "Hitachi",                                                          // Hitachi, Ltd.
		192:   "Dr. Materna",                                                      // Dr. Materna GmbH
		12551: "CE+T",                                                             // unchanged
		5003:  "AudioCodes",                                                       // AudioCodes LTD
		1038:  "SAGEMCOM",                                                         // SAGEMCOM SAS
		87:    "Institute of Telematics, Karlsruhe Institute of Technology (KIT)", // a parenthesis that is part of the name
		// Unassigned, reserved, or past the registry.
		0:          "",
		4378:       "", // ---none---
		4294967295: "",
	} {
		t.Run(strconv.Itoa(int(n)), func(t *testing.T) {
			require.Equal(t, want, Name(n))
		})
	}
}

func TestOfOID(t *testing.T) {
	require.Equal(t, "APC", OfOID(".1.3.6.1.4.1.318.1.3.27"))
	require.Equal(t, "Server Technology", OfOID("1.3.6.1.4.1.1718.3"))
	require.Equal(t, "", OfOID(".1.3.6.1.2.1.33"))
	require.Equal(t, "", OfOID(".1.3.6.1.4.1.99999999.1"))
}

func TestRegistered(t *testing.T) {
	require.Equal(t, "American Power Conversion Corp.", Registered(318))
	require.Equal(t, "ciscoSystems", Registered(9))
	require.Equal(t, "", Registered(0))
}

func TestDisplay(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"American Power Conversion Corp.", "American Power Conversion"},
		{"Eaton Corporation", "Eaton"},
		{"Raritan Computer, Inc.", "Raritan Computer"},
		{"Cisco Systems, Inc.", "Cisco Systems"},
		{"Samsung Electronics Co., LTD.", "Samsung Electronics"},
		{"Shenzhen Foo Technology Co.,Ltd", "Shenzhen Foo Technology"},
		{"Rittal GmbH & Co. KG", "Rittal"},
		{"Phoenix Contact GmbH & Co. KG", "Phoenix Contact"},
		{"Axis Communications AB", "Axis Communications"},
		{"TELDAT, S.A.", "TELDAT"},
		{"Riello S.p.A.", "Riello"},
		{"Barco NV", "Barco"},
		{"Enlogic Systems, LLC", "Enlogic Systems"},
		{"Sophos Plc", "Sophos"},
		{"GABBATRON INCORPORATED", "GABBATRON"},
		{"Foo Holdings Pty Ltd", "Foo Holdings"},
		{"Electronic Communications Network (Pty) Ltd", "Electronic Communications Network"},
		{"Vertiv (formerly 'Geist Manufacturing, Inc')", "Vertiv"},
		{"Silex Technology America, Inc.  (formerly 'XCD, Incorporated')", "Silex Technology America"},
		{"IBM (https://w3.ibm.com/standards )", "IBM"},
		{"Schneider Electric Buildings AB (previous was 'TAC AB')", "Schneider Electric Buildings"},
		{"  Acme \t Widgets   Ltd  ", "Acme Widgets"},
		// Kept: no legal form at the end, or one that is the whole name, or is part of a word.
		{"ciscoSystems", "ciscoSystems"},
		{"Hewlett-Packard", "Hewlett-Packard"},
		{"European Space Agency (ESA)", "European Space Agency (ESA)"},
		{"AB", "AB"},
		{"A AG", "A AG"},
		{"Playboy", "Playboy"},
		{"Incas Inc", "Incas"},
		{"Dow Jones & Company, Inc.", "Dow Jones & Company"},
		{"Foo Co.", "Foo Co."},
		{"Nokia (Formerly 'Alcatel-Lucent')", "Nokia"},
		{"İİİ Teknoloji (FORMERLY 'X')", "İİİ Teknoloji"},
		{"", ""},
	} {
		require.Equal(t, tc.want, Display(tc.in), tc.in)
	}
}

// Every curated label belongs to a number the registry assigns: a typo in a number would otherwise
// name some other organisation after a maker.
func TestLabelsAreAssigned(t *testing.T) {
	for n, label := range labels {
		require.NotEmpty(t, Registered(n), "label %q for %d, which the registry does not assign", label, n)
		require.Equal(t, strings.TrimSpace(label), label)
	}
}

// address is an e-mail address, written with '@' or with the '&' the registry uses instead
// ("GmbH&Co.KG" is a legal form, hence no domain starting "Co.").
var address = regexp.MustCompile(`[A-Za-z0-9._%+!=-]+[@&]([A-Za-z0-9-]+)(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)

func TestRegistryLoads(t *testing.T) {
	tab, err := loaded()
	require.NoError(t, err)
	require.Greater(t, tab.n, 50000)

	// No e-mail address anywhere in the data. An '@' is not one by itself: 22 organisations have it in
	// their registered names ("@Home Network", "Telephony@Work Inc.", "@MySpend.Com"), kept as they are.
	ats := 0
	for i, line := range strings.Split(registryTSV, "\n") {
		for _, m := range address.FindAllStringSubmatch(line, -1) {
			require.True(t, strings.EqualFold(m[1], "Co"), "registry.tsv line %d holds an address: %s", i+1, line)
		}
		ats += strings.Count(line, "@")
	}
	require.Less(t, ats, 40, "more '@' than the brands that have one: look at them")
}

func TestParse(t *testing.T) {
	tab, err := parse("# header\n\n1\tOne\n5\tFive Ltd\n7\tSeven\n")
	require.NoError(t, err)
	require.Equal(t, 3, tab.n)
	require.Equal(t, "One", tab.name(1))
	require.Equal(t, "Five Ltd", tab.name(5))
	require.Equal(t, "Seven", tab.name(7)) // no newline after the last line
	require.Equal(t, "", tab.name(0))
	require.Equal(t, "", tab.name(6))
	require.Equal(t, "", tab.name(8))
	require.Len(t, tab.at, 8)

	tab, err = parse("3\tThree")
	require.NoError(t, err)
	require.Equal(t, "Three", tab.name(3))

	for _, bad := range []string{
		"1\tOne\n1\tAgain\n",  // twice
		"2\tTwo\n1\tOne\n",    // out of order
		"1 One\n",             // no tab
		"1\t\n",               // no name
		"1\t One\n",           // padded name
		"x\tEx\n",             // not a number
		"99999999\tToo big\n", // past the index's bound
	} {
		_, err := parse(bad)
		require.Error(t, err, "%q", bad)
	}
}

// TestHeapAfterLoad measures what loading the registry keeps on the heap: the index only, as the
// names stay in the embedded text. Several loads are kept and averaged, as one is near the noise of
// the heap figures. Run with -v to see the figure.
func TestHeapAfterLoad(t *testing.T) {
	const loads = 8
	var before, after runtime.MemStats
	tabs := make([]*table, loads)
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range tabs {
		tab, err := parse(registryTSV)
		require.NoError(t, err)
		tabs[i] = tab
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / loads
	t.Logf("registry: %d entries up to %d, %d bytes embedded, %d bytes of heap after load",
		tabs[0].n, len(tabs[0].at)-1, len(registryTSV), kept)
	require.Less(t, kept, int64(512<<10))
	runtime.KeepAlive(tabs)
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(registryTSV); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOfOID(b *testing.B) {
	_, _ = loaded()
	b.ReportAllocs()
	for b.Loop() {
		_ = OfOID(".1.3.6.1.4.1.51622.1.2") // a registered name that Display shortens
	}
}

func FuzzNumber(f *testing.F) {
	for _, s := range []string{".1.3.6.1.4.1.318.1.3.27", "1.3.6.1.4.1.9", "1.3.6.1.4.1.", "1.3.6.1.4.1.4294967296", ".1.3.6.1.2.1.1.2.0", "1.3.6.1.4.1.+5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, oid string) {
		n, ok := Number(oid)
		if !ok {
			require.Zero(t, n)
			return
		}
		// What was accepted is an enterprise OID whose first arc is n, written in decimal.
		rest, found := strings.CutPrefix(strings.TrimPrefix(oid, "."), "1.3.6.1.4.1.")
		require.True(t, found, oid)
		arc, _, _ := strings.Cut(rest, ".")
		require.NotEmpty(t, arc)
		require.Empty(t, strings.Trim(arc, "0123456789"), oid)
		v, err := strconv.ParseUint(arc, 10, 64)
		require.NoError(t, err)
		require.Equal(t, uint64(n), v)
		_ = OfOID(oid) // and naming it never panics
	})
}

func FuzzDisplay(f *testing.F) {
	for _, s := range []string{"American Power Conversion Corp.", "Vertiv (formerly 'Geist Manufacturing, Inc')", "A AG", " , Inc.", "İ (formerly x)", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := Display(name)
		require.Equal(t, strings.TrimSpace(got), got)
		if strings.TrimSpace(name) != "" {
			require.NotEmpty(t, got, "%q", name)
		}
	})
}
