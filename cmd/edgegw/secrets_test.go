package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoSecretInErrors walks the command line's error paths with a secret in a URL's user
// information (an SNMP community, a password) wherever a user might put one — a --target, a
// positional argument, a flag's value, a configuration file's cloud.url and cloud.proxy, the
// --config path itself — and requires that neither stdout nor stderr shows it. `edgegw discover
// --target` was the one path that redacted; positional arguments, the configuration's URLs and other
// flags echoed the secret.
func TestNoSecretInErrors(t *testing.T) {
	const secret = "s3cr3t-c0mmunity"
	dir := t.TempDir()
	cfgWith := func(name, cloud string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("[gateway]\nid = \"gw\"\nstate_dir = \"state\"\n"+cloud), 0o600))
		return p
	}
	badURL := cfgWith("badurl.toml", "[cloud]\nenabled = true\nurl = \"amqps://user:"+secret+"@[broker\"\n")
	badProxy := cfgWith("badproxy.toml", "[cloud]\nproxy = \"https://user:"+secret+"@proxy.example:3128\"\n")
	proxyAt := cfgWith("proxyat.toml", "[cloud]\nproxy = \"socks5://user:p@"+secret+"@proxy.example:1080\"\n")
	for _, args := range [][]string{
		{"discover", "--target", "snmp://" + secret + "@127.0.0.1:0"},
		{"discover", "--target", "snmp://" + secret + "@[::1"},
		{"discover", "--target", "ftp://" + secret + "@127.0.0.1"},
		{"discover", "--target", "snmp://" + secret + "@127.0.0.1/path"},
		{"discover", "snmp://" + secret + "@127.0.0.1"},
		{"discover", "--target", "snmp://127.0.0.1", "snmp://" + secret + "@127.0.0.1"},
		{"discover", "--json=snmp://" + secret + "@127.0.0.1"},
		{"discover", "--config", "snmp://" + secret + "@127.0.0.1"},
		{"profile", "test", "--target", "snmp://" + secret + "@127.0.0.1:0"},
		{"profile", "test", "snmp://" + secret + "@127.0.0.1"},
		{"profile", "show", "snmp://" + secret + "@127.0.0.1"},
		{"snmp://" + secret + "@127.0.0.1"},
		{"run", "--config", "amqps://user:" + secret + "@broker.example"},
		{"run", "amqps://user:" + secret + "@broker.example"},
		{"config", "check", "--config", badURL},
		{"config", "check", "--config", badProxy},
		{"config", "check", "--config", proxyAt},
		{"run", "--config", badURL},
		{"claim", "add", "--mac", "snmp://" + secret + "@x", "--serial", "x", "--config", badURL},
		{"claim", "frobnicate", "snmp://" + secret + "@x"},
		{"cloud", "snmp://" + secret + "@x"},
		{"audit", "--since", "snmp://" + secret + "@x", "--config", badURL},
		{"init", "--check", "--config", "amqps://u:" + secret + "@x"},
	} {
		code, out, errOut := runCLI(args...)
		require.NotEqual(t, exitOK, code, "%v", args)
		assert.NotContains(t, out+errOut, secret, "%v echoed the secret", args)
		require.NotEmpty(t, strings.TrimSpace(out+errOut), "%v said nothing", args)
	}
}
