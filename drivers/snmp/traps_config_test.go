package snmp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
)

func parseTraps(t *testing.T, doc string) (*config.Config, error) {
	t.Helper()
	s := Spec()
	return config.Parse("edgegw.toml", []byte("[gateway]\nid = \"gw\"\n"+doc), append([]config.TableCodec{s.Config}, s.Tables...)...)
}

func TestTrapsConfig(t *testing.T) {
	c, err := parseTraps(t, `[[discovery.snmp]]
targets = ["127.0.0.1"]
community = "sitecomm"
[[discovery.snmp]]
targets = ["127.0.0.2"]
version = "3"
[discovery.snmp.v3]
user = "u"
auth_password = "authpass1"
priv_password = "privpass1"
[traps]
listen = "0.0.0.0:162"
allow = ["10.0.0.0/8", "192.0.2.7", "::ffff:192.0.2.8"]
`)
	require.NoError(t, err)
	tt := c.Tables[trapsTable][0].(*TrapsTable)
	require.Equal(t, float64(defaultTrapRate), tt.RateLimit)
	require.Equal(t, defaultTrapBurst, tt.RateBurst)
	var groups []Group
	for _, tb := range c.Discovery.Tables[Protocol] {
		groups = append(groups, tb.(*Table).group())
	}
	o := tt.trapOptions(groups, "gw")
	require.Equal(t, []string{"sitecomm"}, o.Communities, "the discovery tables' communities by default")
	require.Len(t, o.Users, 1)
	require.Equal(t, "u", o.Users[0].User)
	require.Equal(t, defaultEngineID("gw"), o.EngineID)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("192.0.2.8/32")}, o.Allow)

	c, err = parseTraps(t, "[traps]\nlisten = \"127.0.0.1:10162\"\ncommunity = \"own\"\nengine_id = \"0x80001F8804414243\"\n")
	require.NoError(t, err)
	o = c.Tables[trapsTable][0].(*TrapsTable).trapOptions(nil, "gw")
	require.Equal(t, []string{"own"}, o.Communities)
	require.Equal(t, []byte("\x80\x00\x1f\x88\x04ABC"), o.EngineID)

	c, err = parseTraps(t, "[traps]\nrate_limit = 5\n")
	require.NoError(t, err)
	require.Nil(t, c.Tables[trapsTable][0].(*TrapsTable).trapOptions(nil, "gw"), "off without listen")

	_, err = parseTraps(t, `[traps]
listen = "ups.example:162"
community = "a"
community_file = "/nonexistent"
allow = ["10.0.0.0/33", "nope"]
rate_limit = 0
rate_burst = 0
engine_id = "8000"
lisen = "x"
`)
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`edgegw.toml:4:10: traps.listen: "ups.example:162" names "ups.example", which is not an IP address`,
		`edgegw.toml:5:13: traps.community: set both community and community_file; keep only one`,
		`edgegw.toml:7:10: traps.allow[0]: "10.0.0.0/33" is not an address or CIDR prefix`,
		`edgegw.toml:7:25: traps.allow[1]: "nope" is not an address or CIDR prefix`,
		`edgegw.toml:8:14: traps.rate_limit: must be more than 0`,
		`edgegw.toml:9:14: traps.rate_burst: must be between 1 and 100000, got 0`,
		`edgegw.toml:10:13: traps.engine_id: is 2 octets; an SNMP engine id has 5 to 32 (RFC 3411)`,
		`edgegw.toml:11:1: traps.lisen: unknown key; did you mean listen?`,
	} {
		require.Contains(t, msg, want)
	}
	require.NotContains(t, msg, `"a"`, "the community is never echoed")
	_, err = parseTraps(t, "[traps]\nlisten = \"0.0.0.0:0\"\n")
	require.ErrorContains(t, err, "port 0")
	_, err = parseTraps(t, "[[traps]]\nlisten = \"0.0.0.0:162\"\n")
	require.Error(t, err)
}

// TestExampleTraps: the example configuration's [traps] block, uncommented, is a valid configuration.
func TestExampleTraps(t *testing.T) {
	data, err := os.ReadFile("../../config.example.toml")
	require.NoError(t, err)
	text := string(data)
	start := strings.Index(text, "# [traps]\n")
	require.Positive(t, start)
	end := start + strings.Index(text[start:], "\n\n")
	var b strings.Builder
	for _, l := range strings.Split(text[start:end], "\n") {
		switch {
		case strings.HasPrefix(l, "# # "):
		case strings.HasPrefix(l, "# "):
			b.WriteString(strings.TrimPrefix(l, "# ") + "\n")
		}
	}
	c, err := parseTraps(t, b.String())
	require.NoError(t, err)
	tt := c.Tables[trapsTable][0].(*TrapsTable)
	require.Equal(t, "127.0.0.1:10162", tt.Listen)
	var d TrapsTable
	d.SetDefaults()
	require.Equal(t, d.RateLimit, tt.RateLimit, "the example states the defaults")
	require.Equal(t, d.RateBurst, tt.RateBurst)
}

// TestTrapSecretsNotLogged: what the receiver logs and counts names no community or password, neither
// its own nor a wrong one a device sent.
func TestTrapSecretsNotLogged(t *testing.T) {
	var logs bytes.Buffer
	r, err := newReceiver(TrapOptions{Communities: []string{"s3cret-comm"}, Users: []V3Auth{trapUser}}, newRules(nil),
		slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), time.Now())
	require.NoError(t, err)
	r.sink = newFakeSink(map[string]gateway.DeviceRef{"127.0.0.1": {ID: "d"}})
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	r.handle(v2cTrap(t, "wr0ng-comm", ".1.3.6.1.6.3.1.1.5.1", 1, false), from, time.Now())
	wrong := trapUser
	wrong.AuthPassword = "wr0ng-pass"
	r.handle(v3Packet(t, wrong, []byte("\x80\x00\x00\x00\x01\x02"), 1, 1, 0xa7, 2), from, time.Now())
	out := logs.String()
	require.Contains(t, out, "bad_community")
	require.Contains(t, out, "bad_auth")
	for _, secret := range []string{"s3cret-comm", "wr0ng-comm", trapUser.AuthPassword, trapUser.PrivPassword, "wr0ng-pass"} {
		require.NotContains(t, out, secret)
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c"), []byte("filecomm\n"), 0o600))
	c, err := parseTraps(t, "[traps]\nlisten = \"127.0.0.1:10162\"\ncommunity_file = "+`"`+filepath.Join(dir, "c")+`"`+"\n")
	require.NoError(t, err)
	require.Equal(t, []string{"filecomm"}, c.Tables[trapsTable][0].(*TrapsTable).trapOptions(nil, "").Communities)
}
