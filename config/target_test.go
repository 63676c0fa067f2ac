package config

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		raw  string
		want Target // Raw is filled in by the test
		str  string
		size uint64
		err  string
	}{
		{raw: "127.0.0.1:16100", want: Target{Host: "127.0.0.1", Port: 16100}, str: "127.0.0.1:16100", size: 1},
		{raw: "127.0.0.1", want: Target{Host: "127.0.0.1", Port: 161}, str: "127.0.0.1:161", size: 1},
		{raw: "ups1.site.example", want: Target{Host: "ups1.site.example", Port: 161}, str: "ups1.site.example:161", size: 1},
		{raw: "ups1.site.example:1161", want: Target{Host: "ups1.site.example", Port: 1161}, str: "ups1.site.example:1161", size: 1},
		{raw: "localhost", want: Target{Host: "localhost", Port: 161}, str: "localhost:161", size: 1},
		{raw: "[::1]:16100", want: Target{Host: "::1", Port: 16100}, str: "[::1]:16100", size: 1},
		{raw: "::1", want: Target{Host: "::1", Port: 161}, str: "[::1]:161", size: 1},
		{raw: "[::1]", want: Target{Host: "::1", Port: 161}, str: "[::1]:161", size: 1},
		{raw: "127.0.10.0/28", want: Target{Port: 161, Prefix: netip.MustParsePrefix("127.0.10.0/28")}, str: "127.0.10.0/28", size: 16},
		{raw: "127.0.0.1/32", want: Target{Port: 161, Prefix: netip.MustParsePrefix("127.0.0.1/32")}, str: "127.0.0.1/32", size: 1},
		{raw: "::1/128", want: Target{Port: 161, Prefix: netip.MustParsePrefix("::1/128")}, str: "::1/128", size: 1},

		{raw: "", err: "empty target"},
		{raw: "127.0.0.1:99999", err: `"127.0.0.1:99999": port "99999" is not between 1 and 65535`},
		{raw: "127.0.0.1:0", err: `"127.0.0.1:0": port "0" is not between 1 and 65535`},
		{raw: "127.0.0.1:", err: `"127.0.0.1:": port "" is not between 1 and 65535`},
		{raw: "300.1.1.1", err: `"300.1.1.1" is not an IP address, host name or CIDR: not a valid IPv4 address`},
		{raw: "127.0.0.0/33", err: `"127.0.0.0/33" is not a valid CIDR (like 127.0.10.0/28)`},
		{raw: "127.0.10.5/28", err: `"127.0.10.5/28" has host bits set: write 127.0.10.0/28 to sweep the network, or 127.0.10.5 for one host`},
		{raw: "::1:161", want: Target{Host: "::1:161", Port: 161}, str: "[::1:161]:161", size: 1}, // a valid IPv6 address
		{raw: "127.0.0.1 ", err: `"127.0.0.1 " contains white space`},
		{raw: "ups_1.site.example", err: `"ups_1.site.example" is not an IP address, host name or CIDR: a host name has only letters, digits, '-' and '.'`},
		{raw: "-ups.site.example", err: `"-ups.site.example" is not an IP address, host name or CIDR: a part cannot start or end with '-'`},
		{raw: "ups..example", err: `"ups..example" is not an IP address, host name or CIDR: each dot-separated part must be 1-63 characters`},
		{raw: "[127.0.0.1", err: `"[127.0.0.1" is not an IP address, host name or CIDR: a host name has only letters, digits, '-' and '.'`},
		{raw: "[ups]:161", err: `"[ups]:161" is not a valid IPv6 address`},
		{raw: "a:b:c", err: `"a:b:c" is not host:port (write IPv6 as [::1]:161)`},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseTarget(tt.raw, 161)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			if tt.str == "" {
				return // only checks that it parses
			}
			tt.want.Raw = tt.raw
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.str, got.String())
			require.Equal(t, tt.size, got.Size())
		})
	}
}
