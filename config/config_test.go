package config_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/drivers/snmp"
)

// gw is the smallest valid start of a config; tests append to it.
const gw = "[gateway]\nid = \"gw\"\n"

func TestExampleLoads(t *testing.T) {
	c, err := load("../config.example.toml")
	require.NoError(t, err)
	require.Equal(t, "../config.example.toml", c.Path)
	require.Equal(t, "site-gw-1", c.Gateway.ID)
	require.Equal(t, "/var/lib/edgegw", c.Gateway.StateDir)
	require.Len(t, snmpTables(c), 1)
	s := snmpTables(c)[0]
	require.Equal(t, "discovery.snmp[0]", s.Name())
	require.Equal(t, "public", s.Community.Reveal())
	for _, tg := range s.Targets {
		require.True(t, tg.IsPrefix() || netip.MustParseAddr(tg.Host).IsLoopback(), "example target %s is not loopback", tg.Raw)
		if tg.IsPrefix() {
			require.True(t, tg.Prefix.Addr().IsLoopback(), "example target %s is not loopback", tg.Raw)
		}
	}
	require.Len(t, modbusTables(c), 1)
	m := modbusTables(c)[0]
	for _, tg := range m.Targets {
		require.True(t, netip.MustParseAddr(tg.Host).IsLoopback(), "example target %s is not loopback", tg.Raw)
	}
	var md modbus.TableConfig
	md.SetDefaults()
	require.Equal(t, md.Port, m.Port)
	require.Equal(t, md.UnitIDs, m.UnitIDs)
	require.Equal(t, md.Timeout, m.Timeout)
	require.Empty(t, c.Warnings())

	// The example states the defaults; they must be the real ones.
	def := config.Default()
	require.Equal(t, def.Discovery.Interval, c.Discovery.Interval)
	require.Equal(t, def.Discovery.MaxAddresses, c.Discovery.MaxAddresses)
	require.Equal(t, def.Discovery.Concurrency, c.Discovery.Concurrency)
	require.Equal(t, def.Polling, c.Polling)
	require.Equal(t, def.Profiles, c.Profiles)
	require.Equal(t, def.Log, c.Log)
	var sd snmp.Table
	sd.SetDefaults()
	require.Equal(t, sd.Port, s.Port)
	require.Equal(t, sd.Version, s.Version)
	require.Equal(t, sd.Timeout, s.Timeout)
	require.Equal(t, sd.Retries, s.Retries)
}

// TestExampleDocumentsEveryKey keeps config.example.toml complete: every key
// of every table must appear in it, set or commented out.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../config.example.toml")
	require.NoError(t, err)
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" || tag == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[config.Target]() {
				require.Regexp(t, regexp.MustCompile(`(?m)^#? ?\[\[?[a-z.]*\b`+tag+`\]\]?`), string(data), "table %s", tag)
				walk(ft)
				continue
			}
			require.Regexp(t, regexp.MustCompile(`(?m)^(# )*`+tag+` = `), string(data), "key %s", tag)
		}
	}
	walk(reflect.TypeFor[config.Config]())
	// The protocols' tables, as their drivers read them.
	for _, c := range codecs {
		table := "discovery." + c.Name
		if c.Top {
			table = c.Name
		}
		require.Regexp(t, regexp.MustCompile(`(?m)^#? ?\[\[?`+regexp.QuoteMeta(table)+`\]\]?`), string(data), "table %s", table)
		for _, k := range c.Keys {
			if k == "v3" {
				continue // a table of its own: [discovery.snmp.v3]
			}
			require.Regexp(t, regexp.MustCompile(`(?m)^(# )*`+k+` = `), string(data), "%s key %s", table, k)
		}
	}
}

// TestExampleCommentedV3 uncomments the example's SNMPv3 sweep and checks it is
// a valid config too, so the commented-out documentation cannot rot.
func TestExampleCommentedV3(t *testing.T) {
	data, err := os.ReadFile("../config.example.toml")
	require.NoError(t, err)
	text := string(data)
	start := strings.Index(text, "# [[discovery.snmp]]\n# targets = [\"127.0.0.1:16102\"")
	end := strings.Index(text, "[polling]")
	require.True(t, start > 0 && end > start)
	var b strings.Builder
	for _, l := range strings.Split(text[start:end], "\n") {
		switch {
		case strings.HasPrefix(l, "# # "):
		case strings.HasPrefix(l, "# "):
			b.WriteString(strings.TrimPrefix(l, "# ") + "\n")
		}
	}
	dir := t.TempDir()
	v3 := b.String()
	v3 = strings.ReplaceAll(v3, "/etc/edgegw/", dir+"/")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snmp-auth"), []byte("auth-pass-1\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snmp-priv"), []byte("priv-pass-1\n"), 0o600))

	c, err := parse("edgegw.toml", []byte(gw+v3))
	require.NoError(t, err)
	require.Len(t, snmpTables(c), 1)
	s := snmpTables(c)[0]
	require.Equal(t, "3", s.Version)
	require.NotNil(t, s.V3)
	require.Equal(t, "edgegw", s.V3.User)
	require.Equal(t, "auth-pass-1", s.V3.AuthPassword.Reveal())
	require.Equal(t, "priv-pass-1", s.V3.PrivPassword.Reveal())
	require.Equal(t, "AES", s.V3.PrivProtocol)
	require.Equal(t, config.Target{Host: "ups1.site.example", Port: 161, Raw: "ups1.site.example"}, s.Targets[1])
}

func TestDefaults(t *testing.T) {
	c, err := parse("edgegw.toml", []byte(gw+"[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\n"))
	require.NoError(t, err)
	want := config.Default()
	want.Gateway.ID = "gw"
	tables := c.Discovery.Tables
	c.Discovery.Tables = nil
	require.Equal(t, want, c)
	s := tables[snmp.Protocol][0].(*snmp.Table)
	require.Equal(t, "discovery.snmp[0]", s.Name())
	require.Equal(t, config.Targets{{Host: "127.0.0.1", Port: 161, Raw: "127.0.0.1"}}, s.Targets)
	require.Equal(t, uint16(161), s.Port)
	require.Equal(t, "2c", s.Version)
	require.Equal(t, "public", s.Community.Reveal())
	require.Equal(t, 2*time.Second, s.Timeout)
	require.Equal(t, 1, s.Retries)
	require.Equal(t, 15*time.Minute, want.Discovery.Interval)
	require.Equal(t, "/var/lib/edgegw", want.Gateway.StateDir)
	require.NotSame(t, config.Default(), config.Default())
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "syntax",
			in:   gw + "x = = 1\n",
			want: `edgegw.toml:3:5: syntax error: expected value but found '=' instead`,
		},
		{
			name: "duplicate key is a syntax error",
			in:   gw + "[log]\nlevel = \"info\"\nlevel = \"debug\"\n",
			want: `edgegw.toml:5:1: syntax error: key 'log.level' has already been defined`,
		},
		{
			name: "unknown key with hint",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncomunity = \"s3cret-value\"\n",
			want: `edgegw.toml:5:1: discovery.snmp[0].comunity: unknown key; did you mean community?`,
		},
		{
			name: "unknown key without hint",
			in:   gw + "  colour = \"blue\"\n",
			want: `edgegw.toml:3:3: gateway.colour: unknown key (known: id, state_dir)`,
		},
		{
			name: "unknown table",
			in:   gw + "\n[discovry]\ninterval = \"1m\"\n",
			want: `edgegw.toml:4:1: discovry: unknown key; did you mean discovery?`,
		},
		{
			name: "unknown key in inline table",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\nv3 = { user = \"u\", auth_password = \"12345678\", priv_protocol = \"none\", usr = \"x\" }\n",
			want: `edgegw.toml:6:72: discovery.snmp[0].v3.usr: unknown key; did you mean user?`,
		},
		{
			name: "wrong case key",
			in:   gw + "[discovery]\nInterval = \"1m\"\n",
			want: `edgegw.toml:4:1: discovery.Interval: unknown key; did you mean interval? (keys are case-sensitive)`,
		},
		{
			name: "wrong case table",
			in:   "[Gateway]\nid = \"gw\"\n",
			want: "edgegw.toml: gateway.id: required\n" +
				`edgegw.toml:1:1: Gateway: unknown key; did you mean gateway? (keys are case-sensitive)`,
		},
		{
			name: "wrong type",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nretries = \"1\"\n",
			want: `edgegw.toml:5:11: discovery.snmp[0].retries: must be an integer, got a string "1"`,
		},
		{
			name: "table where a value belongs",
			in:   gw + "[log.level]\nx = 1\n",
			want: `edgegw.toml:3:1: log.level: must be a string, got a table`,
		},
		{
			name: "secret of wrong type is not echoed",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity = 123456\n",
			want: `edgegw.toml:5:13: discovery.snmp[0].community: must be a string, got an integer`,
		},
		{
			name: "bad duration",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\n  timeout = \"5x\"\n",
			want: `edgegw.toml:5:13: discovery.snmp[0].timeout: "5x" is not a duration`,
		},
		{
			name: "duration as integer",
			in:   gw + "[polling]\ninterval = 60\n",
			want: `edgegw.toml:4:12: polling.interval: must be a duration string like "30s", got an integer 60`,
		},
		{
			name: "port out of range in target",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1:99999\"]\n",
			want: `edgegw.toml:4:12: discovery.snmp[0].targets[0]: "127.0.0.1:99999": port "99999" is not between 1 and 65535`,
		},
		{
			name: "bad IPv4 in target",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\", \"300.1.1.1\"]\n",
			want: `edgegw.toml:4:25: discovery.snmp[0].targets[1]: "300.1.1.1" is not an IP address, host name or CIDR: not a valid IPv4 address`,
		},
		{
			name: "bad prefix length",
			in:   gw + "[[discovery.snmp]]\ntargets = [\n  \"127.0.0.0/33\",\n]\n",
			want: `edgegw.toml:5:3: discovery.snmp[0].targets[0]: "127.0.0.0/33" is not a valid CIDR (like 127.0.10.0/28)`,
		},
		{
			name: "target not a string",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\", 161]\n",
			want: `edgegw.toml:4:25: discovery.snmp[0].targets[1]: must be a string, got an integer 161`,
		},
		{
			name: "CIDR bigger than max_addresses",
			in:   gw + "[discovery]\nmax_addresses = 16\n[[discovery.snmp]]\ntargets = [\"127.0.10.0/27\"]\n",
			want: `edgegw.toml:6:12: discovery.snmp[0].targets[0]: 127.0.10.0/27 expands to 32 addresses, more than discovery.max_addresses (16)`,
		},
		{
			name: "all targets together bigger than max_addresses",
			in: gw + "[discovery]\nmax_addresses = 16\n[[discovery.snmp]]\ntargets = [\"127.0.10.0/28\"]\n" +
				"[[discovery.snmp]]\ntargets = [\"127.0.0.1\", \"127.0.0.2\"]\n",
			want: `edgegw.toml:8:12: discovery.snmp[1].targets[0]: with this target, all targets expand to more than discovery.max_addresses (16) addresses`,
		},
		{
			name: "bad enum",
			in:   gw + "[log]\nlevel = \"verbose\"\n",
			want: `edgegw.toml:4:9: log.level: "verbose" is not one of "debug", "info", "warn", "error"`,
		},
		{
			name: "bad version",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"2\"\n",
			want: `edgegw.toml:5:11: discovery.snmp[0].version: "2" is not one of "1", "2c", "3"`,
		},
		{
			name: "missing id under its table",
			in:   "# comment\n[gateway]\nstate_dir = \"/tmp/x\"\n",
			want: `edgegw.toml:2:1: gateway.id: required`,
		},
		{
			name: "missing id without table",
			in:   "[log]\nlevel = \"info\"\n",
			want: `edgegw.toml: gateway.id: required`,
		},
		{
			name: "bad id",
			in:   "[gateway]\nid = \"site gw\"\n",
			want: `edgegw.toml:2:6: gateway.id: "site gw" is not valid: use 1-64 characters of A-Z a-z 0-9 . _ -`,
		},
		{
			name: "missing targets",
			in:   gw + "\n[[discovery.snmp]]\nport = 16100\n",
			want: `edgegw.toml:4:1: discovery.snmp[0].targets: required: list at least one address, host name or CIDR`,
		},
		{
			name: "empty targets",
			in:   gw + "[[discovery.snmp]]\ntargets = []\n",
			want: `edgegw.toml:4:11: discovery.snmp[0].targets: required: list at least one address, host name or CIDR`,
		},
		{
			name: "targets of wrong type reported once",
			in:   gw + "[[discovery.snmp]]\ntargets = \"127.0.0.1\"\n",
			want: `edgegw.toml:4:11: discovery.snmp[0].targets: must be an array of strings like ["127.0.0.1:161"], got a string "127.0.0.1"`,
		},
		{
			name: "v3 table with v2c",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\n[discovery.snmp.v3]\nuser = \"u\"\n",
			want: `edgegw.toml:5:1: discovery.snmp[0].v3: is only used with version 3, but version is "2c"`,
		},
		{
			name: "v3 missing",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n",
			want: `edgegw.toml:3:1: discovery.snmp[0].v3: required for version 3: add a [discovery.snmp.v3] table after this [[discovery.snmp]]`,
		},
		{
			name: "v3 short password is not echoed",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n[discovery.snmp.v3]\nuser = \"u\"\nauth_password = \"hunter2\"\npriv_password = \"hunter2-long\"\n",
			want: `edgegw.toml:8:17: discovery.snmp[0].v3.auth_password: must be at least 8 characters long (USM rule, RFC 3414)`,
		},
		{
			name: "v3 missing user and password",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n[discovery.snmp.v3]\npriv_protocol = \"none\"\n",
			want: "edgegw.toml:6:1: discovery.snmp[0].v3.user: required\n" +
				"edgegw.toml:6:1: discovery.snmp[0].v3.auth_password: required: set auth_password or auth_password_file",
		},
		{
			name: "v3 priv password with priv none",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n[discovery.snmp.v3]\nuser = \"u\"\nauth_password = \"12345678\"\npriv_protocol = \"none\"\npriv_password = \"12345678\"\n",
			want: `edgegw.toml:10:17: discovery.snmp[0].v3.priv_password: is set, but priv_protocol is "none"; remove it or choose a privacy protocol`,
		},
		{
			name: "v3 bad protocols",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n[discovery.snmp.v3]\nuser = \"u\"\nauth_password = \"12345678\"\npriv_password = \"12345678\"\nauth_protocol = \"SHA1\"\npriv_protocol = \"3DES\"\n",
			want: "edgegw.toml:10:17: discovery.snmp[0].v3.auth_protocol: \"SHA1\" is not one of \"SHA\", \"SHA224\", \"SHA256\", \"SHA384\", \"SHA512\", \"MD5\"\n" +
				"edgegw.toml:11:17: discovery.snmp[0].v3.priv_protocol: \"3DES\" is not one of \"AES\", \"AES192\", \"AES256\", \"AES192C\", \"AES256C\", \"DES\", \"none\"",
		},
		{
			name: "community with v3",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\ncommunity = \"private1\"\nv3 = { user = \"u\", auth_password = \"12345678\", priv_protocol = \"none\" }\n",
			want: `edgegw.toml:6:13: discovery.snmp[0].community: is not used with version 3; remove it`,
		},
		{
			name: "community and community_file",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity = \"private1\"\ncommunity_file = \"x\"\n",
			want: `edgegw.toml:5:13: discovery.snmp[0].community: set both community and community_file; keep only one`,
		},
		{
			name: "zero and negative values",
			in: gw + "[discovery]\ninterval = \"0s\"\nconcurrency = 0\nmax_addresses = -1\n[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nport = 0\ntimeout = \"-1s\"\nretries = -1\n" +
				"[polling]\ninterval = \"0s\"\noffline_after = 0\nconcurrency = -5\njitter = -0.1\n",
			want: strings.Join([]string{
				`edgegw.toml:4:12: discovery.interval: must be at least 10s, got 0s`,
				`edgegw.toml:5:15: discovery.concurrency: must be between 1 and 1024, got 0`,
				`edgegw.toml:6:17: discovery.max_addresses: must be between 1 and 1048576, got -1`,
				`edgegw.toml:9:8: discovery.snmp[0].port: must be between 1 and 65535, got 0`,
				`edgegw.toml:10:11: discovery.snmp[0].timeout: must be between 10ms and 1m, got -1s`,
				`edgegw.toml:11:11: discovery.snmp[0].retries: must be between 0 and 10, got -1`,
				`edgegw.toml:13:12: polling.interval: must be at least 1s, got 0s`,
				`edgegw.toml:14:17: polling.offline_after: must be between 1 and 100, got 0`,
				`edgegw.toml:15:15: polling.concurrency: must be between 1 and 4096, got -5`,
				`edgegw.toml:16:10: polling.jitter: must be between 0 and 0.5, got -0.1`,
			}, "\n"),
		},
		{
			name: "jitter NaN",
			in:   gw + "[polling]\njitter = nan\n",
			want: `edgegw.toml:4:10: polling.jitter: must be between 0 and 0.5, got NaN`,
		},
		{
			name: "many errors at once, sorted by line",
			in: "[log]\nformat = \"xml\"\n[discovery]\nInterval = \"1m\"\n[[discovery.snmp]]\ntargets = [\"127.0.0.1:99999\"]\nretries = \"1\"\ntimeout = \"5x\"\n" +
				"[discovery.snmp.v3]\nuser = \"u\"\n",
			want: strings.Join([]string{
				`edgegw.toml: gateway.id: required`,
				`edgegw.toml:2:10: log.format: "xml" is not one of "auto", "text", "json"`,
				`edgegw.toml:4:1: discovery.Interval: unknown key; did you mean interval? (keys are case-sensitive)`,
				`edgegw.toml:6:12: discovery.snmp[0].targets[0]: "127.0.0.1:99999": port "99999" is not between 1 and 65535`,
				`edgegw.toml:7:11: discovery.snmp[0].retries: must be an integer, got a string "1"`,
				`edgegw.toml:8:11: discovery.snmp[0].timeout: "5x" is not a duration`,
				`edgegw.toml:9:1: discovery.snmp[0].v3: is only used with version 3, but version is "2c"`,
			}, "\n"),
		},
		{
			name: "error in second array element",
			in:   gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\n[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nretries = 11\n",
			want: `edgegw.toml:7:11: discovery.snmp[1].retries: must be between 0 and 10, got 11`,
		},
		{
			name: "column counts characters, not bytes",
			in:   gw + "[log]\nlevel = \"info\" # é\nformat = \"ünicode\"\n",
			want: `edgegw.toml:5:10: log.format: "ünicode" is not one of "auto", "text", "json"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse("edgegw.toml", []byte(tt.in))
			require.Error(t, err)
			require.Nil(t, c)
			require.Equal(t, tt.want, err.Error())
			var es config.Errors
			require.ErrorAs(t, err, &es)
			require.NotEmpty(t, es)
			require.NotContains(t, err.Error(), "s3cret-value")
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestErrorsAreStructured(t *testing.T) {
	_, err := parse("edgegw.toml", []byte(gw+"[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\n  timeout = \"5x\"\n"))
	var es config.Errors
	require.ErrorAs(t, err, &es)
	require.Len(t, es, 1)
	require.Equal(t, config.Error{Source: "edgegw.toml", Line: 5, Col: 13, Key: "discovery.snmp[0].timeout", Msg: `"5x" is not a duration`}, *es[0])
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.toml")
	_, err := load(p)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Equal(t, p+": cannot read config: no such file or directory", err.Error())
}

// TestV3Table covers the three ways TOML lets the v3 table be written inside
// an array of tables, and that a [discovery.snmp.v3] header attaches to the
// [[discovery.snmp]] right above it, not to the first one.
func TestV3Table(t *testing.T) {
	in := gw + `
[[discovery.snmp]]
targets = ["127.0.0.1:16100"]

[[discovery.snmp]]
targets = ["127.0.0.1:16101"]
version = "3"
[discovery.snmp.v3]
user = "first"
auth_protocol = "sha512"
auth_password = "auth-pass-1"
priv_protocol = "aes256c"
priv_password = "priv-pass-1"
context_name = "ctx"

[[discovery.snmp]]
targets = ["127.0.0.1:16102"]
version = "3"
v3 = { user = "second", auth_password = "auth-pass-2", priv_protocol = "NONE" }

[[discovery.snmp]]
targets = ["127.0.0.1:16103"]
version = "3"
v3.user = "third"
v3.auth_password = "auth-pass-3"
v3.priv_password = "priv-pass-3"
`
	c, err := parse("edgegw.toml", []byte(in))
	require.NoError(t, err)
	require.Len(t, snmpTables(c), 4)
	require.Nil(t, snmpTables(c)[0].V3)

	v := snmpTables(c)[1].V3
	require.NotNil(t, v)
	require.Equal(t, snmp.TableV3{
		User: "first", AuthProtocol: "SHA512", AuthPassword: "auth-pass-1",
		PrivProtocol: "AES256C", PrivPassword: "priv-pass-1", ContextName: "ctx",
	}, *v)

	v = snmpTables(c)[2].V3
	require.Equal(t, snmp.TableV3{User: "second", AuthProtocol: "SHA256", AuthPassword: "auth-pass-2", PrivProtocol: "none"}, *v)
	require.Empty(t, snmpTables(c)[2].Community, "no default community for v3")

	v = snmpTables(c)[3].V3
	require.Equal(t, snmp.TableV3{User: "third", AuthProtocol: "SHA256", AuthPassword: "auth-pass-3", PrivProtocol: "AES", PrivPassword: "priv-pass-3"}, *v)
	for i, s := range snmpTables(c) {
		require.Equal(t, "discovery.snmp["+string(rune('0'+i))+"]", s.Name())
	}
}

func TestCanonicalSpelling(t *testing.T) {
	c, err := parse("edgegw.toml", []byte(gw+"[log]\nlevel = \"DEBUG\"\nformat = \"Json\"\n[[discovery.snmp]]\ntargets = [\"::1\", \"[::1]:16100\", \"localhost\"]\nversion = \"2C\"\nport = 16100\n"))
	require.NoError(t, err)
	require.Equal(t, config.Log{Level: "debug", Format: "json"}, c.Log)
	s := snmpTables(c)[0]
	require.Equal(t, "2c", s.Version)
	require.Equal(t, config.Targets{
		{Host: "::1", Port: 16100, Raw: "::1"},
		{Host: "::1", Port: 16100, Raw: "[::1]:16100"},
		{Host: "localhost", Port: 16100, Raw: "localhost"},
	}, s.Targets)
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(p, []byte("[gateway]\nid = \"gw\"\nstate_dir = \"state\"\n[profiles]\ndirs = [\"profiles\", \"/opt/profiles\"]\n"), 0o600))
	c, err := load(p)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "state"), c.Gateway.StateDir)
	require.Equal(t, []string{filepath.Join(dir, "profiles"), "/opt/profiles"}, c.Profiles.Dirs)
}

// TestValidateInCode: a configuration built in code (a --target URL's table) is checked with the same
// rules as one from a file.
func TestValidateInCode(t *testing.T) {
	c := config.Default()
	require.Error(t, c.Validate(), "gateway.id has no default")
	c.Gateway.ID = "gw"
	u, _ := url.Parse("snmp://127.0.0.1:161")
	tb, err := snmp.Spec().Target(u, 0)
	require.NoError(t, err)
	c.Discovery.Tables = map[string][]config.Table{snmp.Protocol: {tb}}
	require.NoError(t, c.Validate())
	c.Discovery.MaxAddresses = 0
	require.EqualError(t, c.Validate(), `discovery.max_addresses: must be between 1 and 1048576, got 0`)
	u, _ = url.Parse("snmp://127.0.0.1:161?retries=11")
	_, err = snmp.Spec().Target(u, 0)
	require.EqualError(t, err, `retries "11": want 0 to 10`)
}

func TestErrorsUnwrap(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(p, []byte(gw+"[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity_file = \"missing\"\n"), 0o600))
	_, err := load(p)
	require.ErrorIs(t, err, fs.ErrNotExist)
	var e *config.Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "discovery.snmp[0].community_file", e.Key)
}
