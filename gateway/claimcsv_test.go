package gateway

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalizeMAC(t *testing.T) {
	for _, in := range []string{"aa:bb:cc:00:11:22", "AA-BB-CC-00-11-22", "aabb.cc00.1122", "aabbcc001122", " AABBCC001122 "} {
		got, err := NormalizeMAC(in)
		require.NoError(t, err, in)
		require.Equal(t, "aa:bb:cc:00:11:22", got)
	}
	for in, want := range map[string]string{"ff:ff:ff:ff:ff:ff": "broadcast", "01:00:5e:00:00:01": "multicast",
		"00:00:00:00:00:00": "all zeros", "aabbcc": "not a MAC", "gg:bb:cc:00:11:22": "not a MAC", "": "not a MAC"} {
		_, err := NormalizeMAC(in)
		require.ErrorContains(t, err, want, in)
	}
	require.True(t, SameSerial(" sn-1 ", "SN-1"))
	require.False(t, SameSerial("SN-1", "SN-2"))
}

func TestParseClaimsCSV(t *testing.T) {
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
		"02:ed:67:00:00:05,A,B,C\r\n" + // a header names the columns: extra ones are ignored
		"02:ed:67:00:00:06"
	got, err := ParseClaimsCSV(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, []ClaimRow{
		{Line: 2, MAC: "02:ed:67:00:00:01", Serial: "SN1", Group: "Lobby"},
		{Line: 5, MAC: "02:ed:67:00:00:02", Serial: "SN2", Group: "Floor 2, east"},
		{Line: 6, MAC: "02:ed:67:00:00:03", Serial: "SN3"},
		{Line: 11, MAC: "02:ed:67:00:00:05", Serial: "A", Group: "B"},
	}, got.Rows)
	require.Equal(t, 1, got.Duplicates)
	var errs []string
	for _, e := range got.Errors {
		errs = append(errs, e.Error())
	}
	require.Equal(t, []string{
		"line 8: mac 02:ed:67:00:00:01 again with another serial or group: duplicate of line 2",
		"line 9: mac ff:ff:ff:ff:ff:ff is the broadcast address",
		"line 10: serial is empty",
		"line 12: serial is empty",
	}, errs)

	// Without a header: two or three fields.
	got, err = ParseClaimsCSV(strings.NewReader("02:ed:67:00:00:01,SN1\n02:ed:67:00:00:02,A,B,C\n"))
	require.NoError(t, err)
	require.Len(t, got.Rows, 1)
	require.Equal(t, "line 2: 4 fields: want MAC,Serial[,Group]", got.Errors[0].Error())

	// The simulator's file imports as it is.
	got, err = ParseClaimsCSV(strings.NewReader("MAC,Serial,Address,Model\n02:ed:67:00:00:01,SIM-DP55-1,127.0.0.1:16100,DP55\n"))
	require.NoError(t, err)
	require.Equal(t, []ClaimRow{{Line: 2, MAC: "02:ed:67:00:00:01", Serial: "SIM-DP55-1"}}, got.Rows)
}

func claimsFile(n int) string {
	var b strings.Builder
	b.WriteString("MAC,Serial\n")
	for i := range n {
		fmt.Fprintf(&b, "02:ed:%02x:%02x:%02x:%02x,SN-%06d\n", (i>>24)&0xff, (i>>16)&0xff, (i>>8)&0xff, i&0xff, i)
	}
	return b.String()
}

func TestParseClaimsCSV10k(t *testing.T) {
	got, err := ParseClaimsCSV(strings.NewReader(claimsFile(10000)))
	require.NoError(t, err)
	require.Len(t, got.Rows, 10000)
	require.Empty(t, got.Errors)
	require.Equal(t, 10001, got.Rows[9999].Line)
}

func BenchmarkParseClaimsCSV10k(b *testing.B) {
	f := claimsFile(10000)
	for b.Loop() {
		if _, err := ParseClaimsCSV(strings.NewReader(f)); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseClaimsCSV: never panics; every row has a normalised MAC and a serial; lines are in range.
func FuzzParseClaimsCSV(f *testing.F) {
	f.Add("MAC,Serial\n02:ed:67:00:00:01,SN1\n")
	f.Add("\ufeff02-ED-67-00-00-02,\"S,N\",G\r\n\r\n#x\n")
	f.Add("ff:ff:ff:ff:ff:ff,a\n02ed.6700.0003,b,c,d\n\"unterminated")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseClaimsCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		lines := strings.Count(in, "\n") + 1
		for _, r := range got.Rows {
			if m, err := NormalizeMAC(r.MAC); err != nil || m != r.MAC {
				t.Fatalf("row MAC %q not normalised", r.MAC)
			}
			if r.Serial == "" || r.Line < 1 || r.Line > lines {
				t.Fatalf("bad row %+v", r)
			}
		}
		for _, e := range got.Errors {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("error line %d out of range", e.Line)
			}
		}
	})
}
