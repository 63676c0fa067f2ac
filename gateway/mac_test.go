package gateway

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalizeMAC(t *testing.T) {
	const want = "aa:bb:cc:00:11:22"
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "aa:bb:cc:00:11:22", want: want},
		{in: "AA:BB:CC:00:11:22", want: want},
		{in: "AA-BB-CC-00-11-22", want: want},
		{in: "aa-bb-cc-00-11-22", want: want},
		{in: "aabb.cc00.1122", want: want},
		{in: "AABB.CC00.1122", want: want},
		{in: "aabb-cc00-1122", want: want},
		{in: "aabbcc-001122", want: want},
		{in: "aabbcc001122", want: want},
		{in: "AaBbCc001122", want: want},
		{in: "  aabbcc001122\t", want: want},
		{in: "\u00a0AA-BB-CC-00-11-22\r\n", want: want},
		{in: "02:00:00:00:00:00", want: "02:00:00:00:00:00"}, // locally administered unicast is fine
		{in: "fe:ff:ff:ff:ff:ff", want: "fe:ff:ff:ff:ff:ff"},

		{in: "ff:ff:ff:ff:ff:ff", err: "mac ff:ff:ff:ff:ff:ff is the broadcast address"},
		{in: "FFFF.FFFF.FFFF", err: "mac ff:ff:ff:ff:ff:ff is the broadcast address"},
		{in: "01:00:5e:00:00:01", err: "mac 01:00:5e:00:00:01 is a multicast address"},
		{in: "33-33-00-00-00-01", err: "mac 33:33:00:00:00:01 is a multicast address"},
		{in: "01:80:c2:00:00:0e", err: "mac 01:80:c2:00:00:0e is a multicast address"},
		{in: "00:00:00:00:00:00", err: "mac 00:00:00:00:00:00 is all zeros"},
		{in: "000000000000", err: "mac 00:00:00:00:00:00 is all zeros"},
		{in: "", err: "mac is empty"},
		{in: "   ", err: "mac is empty"},
		{in: "aabbcc", err: `mac "aabbcc" is not a MAC address`},
		{in: "aa:bb:cc:00:11", err: `mac "aa:bb:cc:00:11" is not a MAC address`},
		{in: "aa:bb:cc:00:11:22:33", err: "not a MAC address"},
		{in: "aabbcc0011223", err: "not a MAC address"},
		{in: "gg:bb:cc:00:11:22", err: `mac "gg:bb:cc:00:11:22" is not a MAC address`},
		{in: "zz", err: `mac "zz" is not a MAC address`},
		{in: "aa:bb-cc:00:11:22", err: "not a MAC address"}, // mixed separators
		{in: "aa:bb:cc:00:11:2 ", err: "not a MAC address"},
		{in: "a:b:c:0:1:2", err: "not a MAC address"},
		{in: "aabb:cc00:11:22", err: "not a MAC address"},
		{in: "aa bb cc 00 11 22", err: "not a MAC address"},
		{in: "+aabbcc00112", err: "not a MAC address"},
		{in: "0xaabbcc0011", err: "not a MAC address"},
		{in: "00:00:5e:00:53:01:02:03", err: "not a MAC address"}, // EUI-64 is not a MAC-48
		{in: strings.Repeat("é", 40), err: `mac "` + strings.Repeat("é", 20) + `..." is not a MAC address`},
	} {
		got, err := NormalizeMAC(tc.in)
		if tc.err != "" {
			if strings.HasPrefix(tc.err, "mac ") {
				require.EqualError(t, err, tc.err, "%q", tc.in)
			} else {
				require.ErrorContains(t, err, tc.err, "%q", tc.in)
			}
			require.Empty(t, got)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
		again, err := NormalizeMAC(got)
		require.NoError(t, err)
		require.Equal(t, got, again, "the normal form is a fixed point")
	}
}

func TestNormalizeSerial(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "SN-1", want: "SN-1"},
		{in: "  sn 1 \t", want: "sn 1"},
		{in: "\u00a0SN1\u00a0", want: "SN1"},
		{in: "Série-№7", want: "Série-№7"},
		{in: strings.Repeat("x", 128), want: strings.Repeat("x", 128)},
		{in: strings.Repeat("é", 128), want: strings.Repeat("é", 128)}, // characters, not bytes
		{in: "", err: "serial is empty"},
		{in: " \t ", err: "serial is empty"},
		{in: strings.Repeat("x", 129), err: "serial is longer than 128 characters"},
		{in: "SN\x001", err: "serial has a control character (U+0000 at byte 2)"},
		{in: "SN\n1", err: "serial has a control character (U+000A at byte 2)"},
		{in: "SN\x7f", err: "serial has a control character (U+007F at byte 2)"},
		{in: "SN\u200b1", err: "serial has an invisible formatting character (U+200B at byte 2)"},
		{in: "SN\xff", err: `serial "SN\xff" is not UTF-8 text`},
	} {
		got, err := NormalizeSerial(tc.in)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		require.Equal(t, tc.want, got)
	}
}

func TestSameSerial(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"SN-1", "SN-1", true},
		{" sn-1 ", "SN-1", true},
		{"abc\t", "ABC", true},
		{"Série", "SÉRIE", true},
		{"SN-1", "SN-2", false},
		{"SN-1", "SN-10", false},
		{"SN 1", "SN1", false},
		{"", "", true},
		{"", "x", false},
	} {
		require.Equal(t, tc.same, SameSerial(tc.a, tc.b), "%q %q", tc.a, tc.b)
		require.Equal(t, tc.same, SameSerial(tc.b, tc.a), "%q %q", tc.b, tc.a)
	}
}
