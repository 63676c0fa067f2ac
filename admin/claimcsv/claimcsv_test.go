package claimcsv

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
)

func TestRowError(t *testing.T) {
	e := RowError{Line: 7, Reason: `mac "zz" is not a MAC address`}
	require.EqualError(t, e, `line 7: mac "zz" is not a MAC address`)
}

// row builds the ClaimRow expected at a line for MAC 02:ed:67:00:00:<n>.
func row(line, n int, serial, group string) gateway.ClaimRow {
	return gateway.ClaimRow{Line: line, MAC: fmt.Sprintf("02:ed:67:00:00:%02x", n), Serial: serial, Group: group}
}

func TestParse(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes)
	for _, tc := range []struct {
		name string
		in   string
		rows []gateway.ClaimRow
		errs []string
		dups int
	}{
		{name: "empty file", in: ""},
		{name: "only blank lines and comments", in: "\n\r\n  \n# MAC,Serial\n\t# x\n,,\n"},
		{name: "no header, two columns",
			in:   "02:ed:67:00:00:01,SN1\n02:ed:67:00:00:02,SN2\n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", ""), row(2, 2, "SN2", "")}},
		{name: "no header, three columns",
			in:   "02:ed:67:00:00:01,SN1,Lobby\n02:ed:67:00:00:02,SN2,Floor 2\n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", "Lobby"), row(2, 2, "SN2", "Floor 2")}},
		{name: "mixed two and three columns",
			in:   "02:ed:67:00:00:01,SN1\n02:ed:67:00:00:02,SN2,Lobby\n02:ed:67:00:00:03,SN3,\n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", ""), row(2, 2, "SN2", "Lobby"), row(3, 3, "SN3", "")}},
		{name: "every MAC format",
			in: "02:ed:67:00:00:01,A\n02-ED-67-00-00-02,B\n02ed.6700.0003,C\n02ed67000004,D\n02ED-6700-0005,E\n02ed67-000006,F\n",
			rows: []gateway.ClaimRow{row(1, 1, "A", ""), row(2, 2, "B", ""), row(3, 3, "C", ""), row(4, 4, "D", ""),
				row(5, 5, "E", ""), row(6, 6, "F", "")}},
		{name: "header MAC,Serial,Group",
			in:   "MAC,Serial,Group\n02:ed:67:00:00:01,SN1,Lobby\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "Lobby")}},
		{name: "header in other words and case",
			in:   "mac address , Serial Number\n02:ed:67:00:00:01,SN1,Lobby\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "Lobby")}},
		{name: "header with columns in another order",
			in:   "Group,Serial No.,MAC_Address\nLobby,SN1,02:ed:67:00:00:01\n,SN2,02:ed:67:00:00:02\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "Lobby"), row(3, 2, "SN2", "")}},
		{name: "header naming only the MAC",
			in:   "Device MAC,Label\n02:ed:67:00:00:01,SN1\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "")}},
		{name: "the simulator's file: extra named columns ignored",
			in:   "MAC,Serial,Address,Model\n02:ed:67:00:00:01,SIM-DP55-1,127.0.0.1:16100,DP55\n",
			rows: []gateway.ClaimRow{row(2, 1, "SIM-DP55-1", "")}},
		{name: "header after comments and blank lines",
			in:   "# claims for site 4\n\nMAC,Serial\n02:ed:67:00:00:01,SN1\n",
			rows: []gateway.ClaimRow{row(4, 1, "SN1", "")}},
		{name: "only a header", in: "MAC,Serial,Group\r\n"},
		{name: "a header repeated (files concatenated) is skipped",
			in:   "MAC,Serial\n02:ed:67:00:00:01,SN1\nmac, serial\n02:ed:67:00:00:02,SN2\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", ""), row(4, 2, "SN2", "")}},
		{name: "a header-like row later is an error",
			in:   "02:ed:67:00:00:01,SN1\nMAC,Serial\n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", "")},
			errs: []string{`line 2: mac "MAC" is not a MAC address`}},
		{name: "a bad first row is not taken for a header",
			in:   "zz,SN1\n02:ed:67:00:00:02,SN2\n",
			rows: []gateway.ClaimRow{row(2, 2, "SN2", "")},
			errs: []string{`line 1: mac "zz" is not a MAC address`}},
		{name: "a header must name the MAC column",
			in:   "zz,SN\nDevice,Serial Number\n",
			errs: []string{`line 1: mac "zz" is not a MAC address`, `line 2: mac "Device" is not a MAC address`}},
		{name: "S/N names the serial column",
			in:   "S/N,Ethernet MAC,Site\nSN1,02:ed:67:00:00:01,x\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "")}},
		{name: "a first row that looks like a header but has a MAC is data",
			in:   "02:ed:67:00:00:01,Serial\n",
			rows: []gateway.ClaimRow{row(1, 1, "Serial", "")}},
		{name: "BOM and header",
			in:   "\ufeffMAC,Serial\n02:ed:67:00:00:01,SN1\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "")}},
		{name: "BOM without header",
			in:   "\ufeff02:ed:67:00:00:01,SN1\n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", "")}},
		{name: "CRLF",
			in:   "MAC,Serial,Group\r\n02:ed:67:00:00:01,SN1,Lobby\r\n\r\n02:ed:67:00:00:02,SN2\r\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "Lobby"), row(4, 2, "SN2", "")}},
		{name: "no line end on the last line",
			in:   "02:ed:67:00:00:01,SN1\r\n02:ed:67:00:00:02,SN2",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", ""), row(2, 2, "SN2", "")}},
		{name: "blank lines, spaces-only lines, empty-field rows",
			in:   "\n\n02:ed:67:00:00:01,SN1\n   \n\t\r\n,,\n , ,\n02:ed:67:00:00:02,SN2\n\n",
			rows: []gateway.ClaimRow{row(3, 1, "SN1", ""), row(8, 2, "SN2", "")}},
		{name: "comments",
			in:   "# MAC,Serial\n02:ed:67:00:00:01,SN1\n   # indented, with commas\n#02:ed:67:00:00:02,SN2\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "")}},
		{name: "spaces around fields",
			in:   "  02:ed:67:00:00:01 ,\t SN1 ,  Lobby  \n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", "Lobby")}},
		{name: "quoted fields, commas and quotes in them",
			in: "\"02:ed:67:00:00:01\",\"SN1\",\"Floor 2, east\"\n" +
				"02:ed:67:00:00:02, \"SN \"\"2\"\"\", \"Lobby, \"\"main\"\"\"\n" +
				"02:ed:67:00:00:03,SN\"3,Lo\"bby\n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", "Floor 2, east"), row(2, 2, `SN "2"`, `Lobby, "main"`),
				row(3, 3, `SN"3`, `Lo"bby`)}},
		{name: "a quoted field may not span lines",
			in:   "02:ed:67:00:00:01,SN1,\"Floor 2\n east\"\n02:ed:67:00:00:02,SN2\n",
			rows: []gateway.ClaimRow{row(3, 2, "SN2", "")},
			errs: []string{"line 1: a quoted field is not closed on this line", `line 2: 1 field: want MAC,Serial[,Group]`}},
		{name: "trailing empty fields are dropped",
			in:   "02:ed:67:00:00:01,SN1,Lobby,,\n02:ed:67:00:00:02,SN2,,,\n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", "Lobby"), row(2, 2, "SN2", "")}},
		{name: "too many columns without a header",
			in:   "02:ed:67:00:00:01,SN1,Floor 2, east\n02:ed:67:00:00:02,SN2\n",
			rows: []gateway.ClaimRow{row(2, 2, "SN2", "")},
			errs: []string{"line 1: 4 fields: want MAC,Serial[,Group]"}},
		{name: "too many columns with a header",
			in:   "MAC,Serial,Group\n02:ed:67:00:00:01,SN1,Floor 2, east\nMAC,Serial\n",
			errs: []string{"line 2: 4 fields: want at most 3, as the header says", `line 3: mac "MAC" is not a MAC address`}},
		{name: "too few columns",
			in:   "02:ed:67:00:00:01\n02:ed:67:00:00:02,\nMAC,Serial\n",
			errs: []string{"line 1: 1 field: want MAC,Serial[,Group]", "line 2: serial is empty", `line 3: mac "MAC" is not a MAC address`}},
		{name: "too few columns with a header",
			in:   "MAC,Serial\n02:ed:67:00:00:01\n",
			errs: []string{"line 2: serial is empty"}},
		{name: "bad MACs",
			in: "MAC,Serial\n" +
				"ff:ff:ff:ff:ff:ff,SN1\n" +
				"01:00:5e:00:00:01,SN2\n" +
				"00-00-00-00-00-00,SN3\n" +
				"02:ed:67:00:00,SN4\n" +
				"02:ed:67:00:00:0g,SN5\n" +
				",SN6\n" +
				"02:ed:67:00:00:07,SN7\n",
			rows: []gateway.ClaimRow{row(8, 7, "SN7", "")},
			errs: []string{
				"line 2: mac ff:ff:ff:ff:ff:ff is the broadcast address",
				"line 3: mac 01:00:5e:00:00:01 is a multicast address",
				"line 4: mac 00:00:00:00:00:00 is all zeros",
				`line 5: mac "02:ed:67:00:00" is not a MAC address`,
				`line 6: mac "02:ed:67:00:00:0g" is not a MAC address`,
				"line 7: mac is empty",
			}},
		{name: "bad serials and groups",
			in: "02:ed:67:00:00:01,\n" +
				"02:ed:67:00:00:02,\"  \"\n" +
				"02:ed:67:00:00:03," + strings.Repeat("s", 129) + "\n" +
				"02:ed:67:00:00:04,SN\x01\n" +
				"02:ed:67:00:00:05,SN5," + strings.Repeat("g", 129) + "\n" +
				"02:ed:67:00:00:06,SN6,G\x7f\n",
			errs: []string{
				"line 1: serial is empty",
				"line 2: serial is empty",
				"line 3: serial is longer than 128 characters",
				"line 4: serial has a control character (U+0001 at byte 2)",
				"line 5: group is longer than 128 characters",
				"line 6: group has a control character (U+007F at byte 1)",
			}},
		{name: "identical duplicates are dropped and counted",
			in: "02:ed:67:00:00:01,SN1,Lobby\n" +
				"02-ED-67-00-00-01, sn1 ,Lobby\n" + // another MAC format, serial case and spaces
				"02ed.6700.0001,\"SN1\",\" Lobby \"\n" +
				"02:ed:67:00:00:02,SN2\n" +
				"02:ed:67:00:00:02,SN2,\n",
			rows: []gateway.ClaimRow{row(1, 1, "SN1", "Lobby"), row(4, 2, "SN2", "")},
			dups: 3},
		{name: "conflicting duplicates are errors, the first row stands",
			in: "MAC,Serial,Group\n" +
				"02:ed:67:00:00:01,SN1,Lobby\n" +
				"02:ed:67:00:00:01,SN9,Lobby\n" +
				"02:ed:67:00:00:01,SN1,Floor 2\n" +
				"02:ed:67:00:00:01,SN1\n" +
				"02:ed:67:00:00:01,SN1,Lobby\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "Lobby")},
			errs: []string{
				`line 3: duplicate of line 2: mac 02:ed:67:00:00:01 with serial "SN1" there, "SN9" here`,
				`line 4: duplicate of line 2: mac 02:ed:67:00:00:01 in group "Lobby" there, "Floor 2" here`,
				`line 5: duplicate of line 2: mac 02:ed:67:00:00:01 in group "Lobby" there, "" here`,
			},
			dups: 1},
		{name: "a bad row does not take the MAC",
			in:   "02:ed:67:00:00:01,\n02:ed:67:00:00:01,SN1\n",
			rows: []gateway.ClaimRow{row(2, 1, "SN1", "")},
			errs: []string{"line 1: serial is empty"}},
		{name: "line too long: an error naming it, the next rows go on",
			in: "02:ed:67:00:00:01,SN1\n" +
				"02:ed:67:00:00:02,SN2," + long + "\n" +
				"02:ed:67:00:00:03,SN3," + strings.Repeat("y", 100<<10) + "\r\n" +
				"02:ed:67:00:00:04,SN4\n" +
				"02:ed:67:00:00:05,SN5," + long,
			rows: []gateway.ClaimRow{row(1, 1, "SN1", ""), row(4, 4, "SN4", "")},
			errs: []string{"line 2: line is longer than 4096 bytes", "line 3: line is longer than 4096 bytes",
				"line 5: line is longer than 4096 bytes"}},
		{name: "a line of exactly the limit, with CRLF, is fine",
			in:   "02:ed:67:00:00:01,SN1," + strings.Repeat("#", MaxLineBytes-len("02:ed:67:00:00:01,SN1,")) + "\r\n",
			errs: []string{"line 1: group is longer than 128 characters"}},
		{name: "UTF-16 is refused in one error",
			in:   "\xff\xfeM\x00A\x00C\x00\n\x00",
			errs: []string{"line 1: the file is UTF-16 text: save it as CSV (UTF-8)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.rows, got.Rows)
			var errs []string
			for _, e := range got.Errors {
				errs = append(errs, e.Error())
			}
			require.Equal(t, tc.errs, errs)
			require.Equal(t, tc.dups, got.Duplicates)
		})
	}
}

// The file of cmd/edgegw's end-to-end test, as one piece.
func TestParseAllTogether(t *testing.T) {
	in := "\ufeffMAC Address,Serial,Group\r\n" +
		"02:ed:67:00:00:01,SN1,Lobby\r\n" +
		"\r\n" +
		"# a comment\r\n" +
		"02-ED-67-00-00-02, SN2 ,\"Floor 2, east\"\r\n" +
		"02ed.6700.0003,SN3\r\n" +
		"02:ed:67:00:00:01,sn1,Lobby\r\n" + // identical duplicate (serials compare case-insensitively)
		"02:ed:67:00:00:01,SN9\r\n" + // conflicting duplicate
		"ff:ff:ff:ff:ff:ff,SNX\r\n" +
		"02:ed:67:00:00:04,\r\n" +
		"02:ed:67:00:00:05,A,B,C\r\n" +
		"zz:zz,bad\r\n" +
		"02:ed:67:00:00:06"
	got, err := Parse(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, []gateway.ClaimRow{row(2, 1, "SN1", "Lobby"), row(5, 2, "SN2", "Floor 2, east"), row(6, 3, "SN3", "")}, got.Rows)
	require.Equal(t, 1, got.Duplicates)
	require.Equal(t, []RowError{
		{8, `duplicate of line 2: mac 02:ed:67:00:00:01 with serial "SN1" there, "SN9" here`},
		{9, "mac ff:ff:ff:ff:ff:ff is the broadcast address"},
		{10, "serial is empty"},
		{11, "4 fields: want at most 3, as the header says"},
		{12, `mac "zz:zz" is not a MAC address`},
		{13, "serial is empty"},
	}, got.Errors)
}

func TestParseRowLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("MAC,Serial\n# comment lines, blank lines and the header do not count\n\n")
	b.WriteString(claimsRows(MaxRows - 1))
	b.WriteString("zz,bad rows count\n")
	got, err := Parse(strings.NewReader(b.String()))
	require.NoError(t, err)
	require.Len(t, got.Rows, MaxRows-1)
	require.Len(t, got.Errors, 1)

	b.WriteString("\n#\n")
	b.WriteString("02:ff:ff:ff:ff:ff,one too many\n")
	got, err = Parse(strings.NewReader(b.String()))
	require.ErrorIs(t, err, ErrTooManyRows)
	require.EqualError(t, err, fmt.Sprintf("line %d: more than 100000 rows in a claims file", MaxRows+6))
	require.Len(t, got.Rows, MaxRows-1, "what was parsed comes back with the error")
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("02:ed:67:00:00:01,SN1\n02:ed:67:00:00:02,SN-CUT-SH"), iotest.ErrReader(boom))
	got, err := Parse(r)
	require.ErrorIs(t, err, boom)
	require.EqualError(t, err, "read claims: disk on fire")
	require.Equal(t, []gateway.ClaimRow{row(1, 1, "SN1", "")}, got.Rows, "a line cut short by the error is not used")
	require.Empty(t, got.Errors)

	// A reader handing out one byte at a time (and data with io.EOF) reads the same as a whole one.
	in := "\ufeffMAC,Serial,Group\r\n02:ed:67:00:00:01,SN1,\"a, b\"\r\n\r\n02:ed:67:00:00:02,SN2"
	want, err := Parse(strings.NewReader(in))
	require.NoError(t, err)
	for _, r := range []io.Reader{iotest.OneByteReader(strings.NewReader(in)), iotest.DataErrReader(strings.NewReader(in))} {
		got, err := Parse(r)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// claimsRows writes n good rows, MACs 02:ed:xx:xx:xx:xx written in turn in the four formats.
func claimsRows(n int) string {
	var b strings.Builder
	b.Grow(n * 40)
	for i := range n {
		o := [4]int{(i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff}
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "02:ed:%02x:%02x:%02x:%02x,SN-%06d\n", o[0], o[1], o[2], o[3], i)
		case 1:
			fmt.Fprintf(&b, "02-ED-%02X-%02X-%02X-%02X, sn-%06d ,Group %d\r\n", o[0], o[1], o[2], o[3], i, i%7)
		case 2:
			fmt.Fprintf(&b, "02ed.%02x%02x.%02x%02x,\"SN-%06d\",\"Floor %d, east\"\n", o[0], o[1], o[2], o[3], i, i%5)
		default:
			fmt.Fprintf(&b, "02ed%02x%02x%02x%02x,SN-%06d\n", o[0], o[1], o[2], o[3], i)
		}
	}
	return b.String()
}

func TestParse10k(t *testing.T) {
	const n = 10_000
	in := "\ufeffMAC,Serial,Group\r\n" + claimsRows(n)
	got, err := Parse(strings.NewReader(in))
	require.NoError(t, err)
	require.Empty(t, got.Errors)
	require.Zero(t, got.Duplicates)
	require.Len(t, got.Rows, n)
	for i, r := range got.Rows {
		want := gateway.ClaimRow{Line: i + 2, MAC: fmt.Sprintf("02:ed:%02x:%02x:%02x:%02x", (i>>24)&0xff, (i>>16)&0xff, (i>>8)&0xff, i&0xff)}
		switch i % 4 {
		case 1:
			want.Serial, want.Group = fmt.Sprintf("sn-%06d", i), fmt.Sprintf("Group %d", i%7)
		case 2:
			want.Serial, want.Group = fmt.Sprintf("SN-%06d", i), fmt.Sprintf("Floor %d, east", i%5)
		default:
			want.Serial = fmt.Sprintf("SN-%06d", i)
		}
		require.Equal(t, want, r)
	}

	// The same file twice: the second copy is all duplicates.
	got, err = Parse(strings.NewReader(in + claimsRows(n)))
	require.NoError(t, err)
	require.Len(t, got.Rows, n)
	require.Empty(t, got.Errors)
	require.Equal(t, n, got.Duplicates)
}

func BenchmarkParse10k(b *testing.B) {
	in := "MAC,Serial,Group\n" + claimsRows(10_000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := Parse(strings.NewReader(in))
		if err != nil || len(got.Rows) != 10_000 {
			b.Fatal(err, len(got.Rows))
		}
	}
}

// FuzzParse: Parse never panics; every row has a normalised MAC (each MAC once), a
// normalised non-empty serial and a normalised group; every line number is within the input, and no
// line has two outcomes.
func FuzzParse(f *testing.F) {
	f.Add("MAC,Serial\n02:ed:67:00:00:01,SN1\n")
	f.Add("\ufeff02-ED-67-00-00-02,\"S,N\",G\r\n\r\n#x\n02ed.6700.0002,s,n\n")
	f.Add("ff:ff:ff:ff:ff:ff,a\n02ed.6700.0003,b,c,d\n\"unterminated")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Parse(strings.NewReader(in))
		if err != nil && !errors.Is(err, ErrTooManyRows) {
			t.Fatalf("error from a string reader: %v", err)
		}
		lines := strings.Count(in, "\n") + 1
		seenLine := map[int]bool{}
		seenMAC := map[string]bool{}
		for _, r := range got.Rows {
			if m, err := gateway.NormalizeMAC(r.MAC); err != nil || m != r.MAC {
				t.Fatalf("row %+v: MAC not normalised (%v)", r, err)
			}
			if s, err := gateway.NormalizeSerial(r.Serial); err != nil || s != r.Serial || r.Serial == "" {
				t.Fatalf("row %+v: serial not normalised (%v)", r, err)
			}
			if g, err := gateway.NormalizeGroup(r.Group); err != nil || g != r.Group {
				t.Fatalf("row %+v: group not normalised (%v)", r, err)
			}
			if r.Line < 1 || r.Line > lines || seenLine[r.Line] || seenMAC[r.MAC] {
				t.Fatalf("row %+v: line out of 1..%d or seen before", r, lines)
			}
			seenLine[r.Line], seenMAC[r.MAC] = true, true
		}
		for _, e := range got.Errors {
			if e.Line < 1 || e.Line > lines || seenLine[e.Line] || e.Reason == "" {
				t.Fatalf("error %+v: line out of 1..%d, seen before, or no reason", e, lines)
			}
			seenLine[e.Line] = true
		}
		if got.Duplicates < 0 || len(got.Rows)+len(got.Errors)+got.Duplicates > lines {
			t.Fatalf("%d rows, %d errors, %d duplicates from %d lines", len(got.Rows), len(got.Errors), got.Duplicates, lines)
		}
	})
}
