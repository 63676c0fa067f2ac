package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadConsoleFull(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "proxy"), []byte("bob:hunter2\n"), 0o600))
	path := filepath.Join(dir, "console.toml")
	require.NoError(t, os.WriteFile(path, []byte(`# the cloud side
[cloud]
url = "wss://127.0.0.1:15681/amqp"
ca_file = "ca.pem"
cert_file = "/abs/client.pem"
key_file = "client.key"
sasl = "PLAIN"
username = "ops"
password_file = "pw"
up_address = "/queue/up"
down_address = "/queue/down.{gateway_id}"
proxy = "http://127.0.0.1:3128"
proxy_auth_file = "proxy"
insecure_plaintext = false
websocket_subprotocol = "amqp"
`), 0o600))
	c, err := LoadConsole(path)
	require.NoError(t, err)
	require.Equal(t, path, c.Path)
	cl := c.Cloud
	require.True(t, cl.Enabled, "enabled is implied")
	require.Equal(t, "wss://127.0.0.1:15681/amqp", cl.URL)
	require.Equal(t, filepath.Join(dir, "ca.pem"), cl.CAFile)
	require.Equal(t, "/abs/client.pem", cl.CertFile)
	require.Equal(t, filepath.Join(dir, "client.key"), cl.KeyFile)
	require.Equal(t, "plain", cl.SASL)
	require.Equal(t, "plain", cl.Mechanism())
	require.Equal(t, "ops", cl.Username)
	require.Equal(t, "s3cret", cl.Password.Reveal())
	require.Equal(t, "/queue/up", cl.UpAddress)
	require.Equal(t, "/queue/down.gw1", cl.Address(cl.DownAddress, "gw1"))
	require.Equal(t, "http://127.0.0.1:3128", cl.Proxy)
	require.Equal(t, "bob:hunter2", cl.ProxyAuth.Reveal())
	require.Equal(t, "amqp", cl.WebSocketSubprotocol)
	require.Empty(t, c.Warnings())
}

func TestParseConsoleDefaults(t *testing.T) {
	c, err := ParseConsole("c.toml", []byte("[cloud]\nurl = \"amqps://127.0.0.1:15671\"\ncert_file = \"c.pem\"\nkey_file = \"c.key\"\n"))
	require.NoError(t, err)
	require.Equal(t, "", c.Path)
	require.Equal(t, defaultUpAddress, c.Cloud.UpAddress)
	require.Equal(t, defaultDownAddress, c.Cloud.DownAddress)
	require.Equal(t, defaultSubprotocol, c.Cloud.WebSocketSubprotocol)
	require.Equal(t, "external", c.Cloud.Mechanism())
	require.Equal(t, "c.pem", c.Cloud.CertFile, "ParseConsole leaves relative paths alone")
}

// The console's keys are exactly the gateway's connection keys, spelled the same.
func TestConsoleKeysAreCloudKeys(t *testing.T) {
	gwTags := tomlTags(reflect.TypeFor[Cloud]())
	for _, k := range tomlTags(reflect.TypeFor[consoleCloud]()) {
		require.Contains(t, gwTags, k)
	}
	ct := reflect.TypeFor[consoleCloud]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		g, ok := reflect.TypeFor[Cloud]().FieldByName(f.Name)
		require.True(t, ok, f.Name)
		require.Equal(t, g.Tag.Get("toml"), f.Tag.Get("toml"), f.Name)
		require.Equal(t, g.Type, f.Type, f.Name)
	}
}

func TestConsoleErrors(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string // each must appear, in order, one per error line
	}{
		{"unknown key", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"anonymous\"\nurll = \"x\"\n",
			[]string{"c.toml:4:1: cloud.urll: unknown key; did you mean url?"}},
		{"case", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"anonymous\"\nCA_File = \"x\"\n",
			[]string{"c.toml:4:1: cloud.CA_File: unknown key; did you mean ca_file? (keys are case-sensitive)"}},
		{"gateway-only key", "[cloud]\nenabled = true\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"anonymous\"\n  health_interval = \"5s\"\n",
			[]string{
				"c.toml:2:1: cloud.enabled: is a gateway setting; edgegw-console does not use it",
				"c.toml:5:3: cloud.health_interval: is a gateway setting",
			}},
		{"other table", "[gateway]\nid = \"gw\"\n\n[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"anonymous\"\n",
			[]string{"c.toml:1:1: gateway: unknown key: an edgegw-console config has only a [cloud] table"}},
		{"no cloud", "# nothing\n", []string{"c.toml: cloud: no [cloud] table"}},
		{"no url", "[cloud]\nsasl = \"anonymous\"\n", []string{"c.toml:1:1: cloud.url: required"}},
		{"wrong type", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"anonymous\"\ninsecure_plaintext = \"yes\"\n",
			[]string{`c.toml:4:22: cloud.insecure_plaintext: must be true or false, got a string "yes"`}},
		{"plaintext", "[cloud]\nurl = \"amqp://127.0.0.1:15672\"\nsasl = \"anonymous\"\n",
			[]string{"c.toml:2:7: cloud.url: amqp:// sends everything in clear text"}},
		{"external without cert", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"external\"\n",
			[]string{"c.toml:3:8: cloud.sasl: external needs cert_file and key_file"}},
		{"bad sasl", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"scram\"\n",
			[]string{`c.toml:3:8: cloud.sasl: "scram" is not one of "external", "plain", "anonymous"`}},
		{"plain without user", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"plain\"\n",
			[]string{"cloud.password_file: required", "cloud.username: required"}},
		{"empty up", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"anonymous\"\nup_address = \"\"\n",
			[]string{"c.toml:4:14: cloud.up_address: must not be empty"}},
		{"bad proxy", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"anonymous\"\nproxy = \"socks5://127.0.0.1:1080\"\n",
			[]string{"c.toml:4:9: cloud.proxy: "}},
		{"missing secret", "[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nusername = \"u\"\npassword_file = \"/nonexistent/pw\"\n",
			[]string{"c.toml:4:17: cloud.password_file: cannot read /nonexistent/pw"}},
		{"syntax", "[cloud]\nurl = \"amqps://127.0.0.1:15671\n", []string{"c.toml:2:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConsole("c.toml", []byte(tc.data))
			require.Error(t, err)
			var es Errors
			require.True(t, errors.As(err, &es), "%T", err)
			msg := err.Error()
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

func TestConsoleSecretsAndWarnings(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o644))
	proxy := filepath.Join(dir, "proxy")
	require.NoError(t, os.WriteFile(proxy, []byte("no-colon\n"), 0o600))

	path := filepath.Join(dir, "c.toml")
	write := func(s string) {
		require.NoError(t, os.WriteFile(path, []byte(s), 0o600))
	}
	write("[cloud]\nurl = \"amqp://127.0.0.1:15672\"\ninsecure_plaintext = true\nusername = \"u\"\npassword_file = \"pw\"\n")
	c, err := LoadConsole(path)
	require.NoError(t, err)
	require.Equal(t, "s3cret", c.Cloud.Password.Reveal())
	w := strings.Join(c.Warnings(), "\n")
	require.Contains(t, w, "cloud.password_file "+pw+" is readable by others")
	require.Contains(t, w, "the console may connect without TLS")
	require.NotContains(t, w, "s3cret")

	write("[cloud]\nurl = \"amqps://127.0.0.1:15671\"\nsasl = \"anonymous\"\nproxy = \"http://127.0.0.1:3128\"\nproxy_auth_file = \"proxy\"\n")
	_, err = LoadConsole(path)
	require.ErrorContains(t, err, "c.toml:5:19: cloud.proxy_auth_file: must hold user:password on one line")
	require.NotContains(t, err.Error(), "no-colon")

	_, err = LoadConsole(filepath.Join(dir, "nope.toml"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "nope.toml: cannot read config: no such file or directory")
}

// Every error comes at once, sorted by position.
func TestConsoleAllErrorsAtOnce(t *testing.T) {
	_, err := ParseConsole("c.toml", []byte("[cloud]\nbogus = 1\nsasl = \"scram\"\nup_address = 5\n"))
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.GreaterOrEqual(t, len(lines), 4, err.Error())
	require.True(t, slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "c.toml:2:1: cloud.bogus: unknown key") }), err.Error())
	require.True(t, slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "c.toml:4:14: cloud.up_address: must be a string") }), err.Error())
	require.True(t, slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "cloud.url: required") }), err.Error())
}
