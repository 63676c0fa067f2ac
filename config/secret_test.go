package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
)

const (
	community = "c0mmunity-XYZZY"
	authPass  = "auth-PLUGH-pass"
	privPass  = "priv-FROTZ-pass"
)

// secretConfig is a config with every kind of secret set.
func secretConfig(t *testing.T) *config.Config {
	t.Helper()
	in := gw + `
[[discovery.snmp]]
targets = ["127.0.0.1:16100"]
community = "` + community + `"

[[discovery.snmp]]
targets = ["127.0.0.1:16101"]
version = "3"
[discovery.snmp.v3]
user = "edgegw"
auth_password = "` + authPass + `"
priv_password = "` + privPass + `"
`
	c, err := parse("edgegw.toml", []byte(in))
	require.NoError(t, err)
	require.Equal(t, community, snmpTables(c)[0].Community.Reveal())
	require.Equal(t, authPass, snmpTables(c)[1].V3.AuthPassword.Reveal())
	require.Equal(t, privPass, snmpTables(c)[1].V3.PrivPassword.Reveal())
	return c
}

func requireNoSecret(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{community, authPass, privPass} {
		require.NotContains(t, out, s)
	}
}

func TestSecretRedaction(t *testing.T) {
	badVerb := "%d"
	c := secretConfig(t)
	v3 := *snmpTables(c)[1].V3
	dumps := map[string]func() string{
		"%v":        func() string { return fmt.Sprintf("%v", c) },
		"%+v":       func() string { return fmt.Sprintf("%+v", c) },
		"%#v":       func() string { return fmt.Sprintf("%#v", c) },
		"%v value":  func() string { return fmt.Sprintf("%v", *c) },
		"%+v value": func() string { return fmt.Sprintf("%+v", *c) },
		"%#v value": func() string { return fmt.Sprintf("%#v", *c) },
		"%+v v3":    func() string { return fmt.Sprintf("%+v", v3) },
		"%#v v3":    func() string { return fmt.Sprintf("%#v", v3) },
		"%s secret": func() string { return fmt.Sprintf("%s", v3.AuthPassword) },
		"%q secret": func() string { return fmt.Sprintf("%q", v3.AuthPassword) },
		"%x secret": func() string { return fmt.Sprintf("%x", v3.AuthPassword) },
		// A bad verb makes fmt bypass String; the format is a variable so vet
		// lets the test make that mistake on purpose.
		"%d bad verb":   func() string { return fmt.Sprintf(badVerb, v3.AuthPassword) },
		"%d bad verb v": func() string { return fmt.Sprintf(badVerb, v3) },
		"Sprint":        func() string { return fmt.Sprint(*snmpTables(c)[0], *snmpTables(c)[1]) },
		"json": func() string {
			b, err := json.Marshal(c)
			require.NoError(t, err)
			return string(b)
		},
		"toml": func() string {
			var b bytes.Buffer
			require.NoError(t, toml.NewEncoder(&b).Encode(v3))
			return b.String()
		},
		"slog text": func() string {
			var b bytes.Buffer
			l := slog.New(slog.NewTextHandler(&b, nil))
			l.Info("config", "cfg", c, "v3", v3, "pw", v3.AuthPassword, "snmp", snmpTables(c))
			return b.String()
		},
		"slog json": func() string {
			var b bytes.Buffer
			l := slog.New(slog.NewJSONHandler(&b, nil))
			l.Info("config", "cfg", c, "v3", v3, "pw", v3.AuthPassword, "snmp", snmpTables(c))
			return b.String()
		},
	}
	for name, dump := range dumps {
		t.Run(name, func(t *testing.T) {
			out := dump()
			requireNoSecret(t, out)
			require.Contains(t, out, "redacted") // JSON writes it as \u003credacted\u003e
		})
	}
}

func TestSecretMethods(t *testing.T) {
	s := config.Secret("hunter2hunter2")
	require.Equal(t, "hunter2hunter2", s.Reveal())
	require.Equal(t, "<redacted>", s.String())
	require.Equal(t, `"<redacted>"`, s.GoString())
	b, err := s.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "<redacted>", string(b))
	b, err = json.Marshal(s)
	require.NoError(t, err)
	var back string
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, "<redacted>", back)
	require.Equal(t, "<redacted>", s.LogValue().String())
}

func TestSecretFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not checked on windows")
	}
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode)) // umask must not decide the test
		return p
	}
	write("community", community+"\n", 0o600)
	write("community-open", community+"\r\n", 0o644)
	write("auth", authPass+"\n", 0o640)
	write("priv", privPass, 0o600)
	write("empty", "\n", 0o600)
	write("short", "1234567\n", 0o600)
	write("twolines", "abc\ndef\n", 0o600)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o700))

	tests := []struct {
		name     string
		body     string
		mode     os.FileMode
		err      string
		warnings []string
	}{
		{
			name: "private files, relative paths",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity_file = \"community\"\n" +
				"[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n[discovery.snmp.v3]\nuser = \"u\"\nauth_password_file = \"auth\"\npriv_password_file = \"" + filepath.Join(dir, "priv") + "\"\n",
			mode: 0o644,
		},
		{
			name: "world-readable secret file",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity_file = \"community-open\"\n",
			mode: 0o600,
			warnings: []string{
				"discovery.snmp[0].community_file " + filepath.Join(dir, "community-open") + " is readable by others (mode 0644); chmod 600 it",
			},
		},
		{
			name: "world-readable config with inline secrets",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity = \"" + community + "\"\n" +
				"[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\nv3 = { user = \"u\", auth_password = \"" + authPass + "\", priv_protocol = \"none\" }\n",
			mode: 0o644,
			warnings: []string{
				"{cfg}: holds secrets inline (discovery.snmp[0].community, discovery.snmp[1].v3.auth_password) and is readable by others (mode 0644); chmod 600 it, or move them to *_file keys",
			},
		},
		{
			name: "private config with inline secret",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity = \"" + community + "\"\n",
			mode: 0o600,
		},
		{
			name: "public community inline is not a secret",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity = \"public\"\n",
			mode: 0o644,
		},
		{
			name: "weak protocols",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n[discovery.snmp.v3]\nuser = \"u\"\nauth_protocol = \"md5\"\npriv_protocol = \"des\"\nauth_password_file = \"auth\"\npriv_password_file = \"priv\"\n",
			mode: 0o600,
			warnings: []string{
				"discovery.snmp[0].v3.auth_protocol: MD5 is weak; use SHA256 or stronger if the device supports it",
				"discovery.snmp[0].v3.priv_protocol: DES is broken; use AES if the device supports it",
			},
		},
		{
			name: "missing file",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity_file = \"nope\"\n",
			err:  "{cfg}:5:18: discovery.snmp[0].community_file: cannot read " + filepath.Join(dir, "nope") + ": no such file or directory",
		},
		{
			name: "empty file",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity_file = \"empty\"\n",
			err:  "{cfg}:5:18: discovery.snmp[0].community_file: cannot read " + filepath.Join(dir, "empty") + ": the file is empty",
		},
		{
			name: "two lines",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity_file = \"twolines\"\n",
			err:  "{cfg}:5:18: discovery.snmp[0].community_file: cannot read " + filepath.Join(dir, "twolines") + ": the file has more than one line; it must hold only the secret",
		},
		{
			name: "directory",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity_file = \"subdir\"\n",
			err:  "{cfg}:5:18: discovery.snmp[0].community_file: cannot read " + filepath.Join(dir, "subdir") + ": not a regular file",
		},
		{
			name: "short password from file names the file, not the value",
			body: "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n[discovery.snmp.v3]\nuser = \"u\"\nauth_password_file = \"short\"\npriv_protocol = \"none\"\n",
			err:  "{cfg}:8:22: discovery.snmp[0].v3.auth_password_file: the password in " + filepath.Join(dir, "short") + " must be at least 8 characters long (USM rule, RFC 3414)",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := write(fmt.Sprintf("edgegw-%d.toml", i), gw+tt.body, tt.mode)
			c, err := load(cfg)
			if tt.err != "" {
				require.EqualError(t, err, fill(tt.err, cfg))
				require.NotContains(t, err.Error(), "1234567")
				return
			}
			require.NoError(t, err)
			var want []string
			for _, w := range tt.warnings {
				want = append(want, fill(w, cfg))
			}
			require.Equal(t, want, c.Warnings())
			for _, w := range c.Warnings() {
				requireNoSecret(t, w)
			}
		})
	}

	c, err := load(write("all.toml", gw+tests[0].body, 0o600))
	require.NoError(t, err)
	require.Equal(t, community, snmpTables(c)[0].Community.Reveal(), "trailing newline dropped")
	require.Equal(t, filepath.Join(dir, "community"), snmpTables(c)[0].CommunityFile)
	require.Equal(t, authPass, snmpTables(c)[1].V3.AuthPassword.Reveal())
	require.Equal(t, privPass, snmpTables(c)[1].V3.PrivPassword.Reveal())

	c, err = load(write("crlf.toml", gw+tests[1].body, 0o600))
	require.NoError(t, err)
	require.Equal(t, community, snmpTables(c)[0].Community.Reveal(), "CRLF dropped")
}

func fill(s, cfg string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("{cfg}"), []byte(cfg)))
}

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"snmp://public@127.0.0.1:161":                        "snmp://<redacted>@127.0.0.1:161",
		`--target "amqps://u:p@ss@broker:5671/x?y=1" is bad`: `--target "amqps://<redacted>@broker:5671/x?y=1" is bad`,
		"a http://u:p@proxy:3128 and b wss://k@h/p":          "a http://<redacted>@proxy:3128 and b wss://<redacted>@h/p",
		"snmp://<redacted>@127.0.0.1":                        "snmp://<redacted>@127.0.0.1",
		"mail ops@example.com, see https://example.com/a@b":  "mail ops@example.com, see https://example.com/a@b",
		"no url here":                  "no url here",
		"modbus:///dev/ttyUSB0?unit=1": "modbus:///dev/ttyUSB0?unit=1",
		"snmp://s3cret@[::1":           "snmp://<redacted>@[::1",
		"edgegw: unexpected argument \"snmp://c0mm@127.0.0.2\"\n": "edgegw: unexpected argument \"snmp://<redacted>@127.0.0.2\"\n",
	} {
		require.Equal(t, want, config.RedactURLs(in), in)
	}
}
