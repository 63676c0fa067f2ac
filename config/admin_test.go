package config

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAdminTable: the listener's address rules, each refusal at its file:line:col.
func TestAdminTable(t *testing.T) {
	head := "[gateway]\nid = \"gw\"\n"
	c, _, err := parse("edgegw.toml", []byte(head), "", nil)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Admin.Listen, "the default")
	require.Equal(t, 5*time.Minute, c.Admin.DegradedAfter)

	dir := t.TempDir()
	for _, ok := range []string{
		"listen = \"\"",
		"listen = \"127.0.0.1:0\"",
		"listen = \"[::1]:8080\"",
		"listen = \"localhost:8080\"",
		"listen = \"127.0.0.2:9000\"\ntls_cert_file = \"a.pem\"\ntls_key_file = \"a.key\"",
		"listen = \"0.0.0.0:8443\"\nallow_remote = true\ntls_cert_file = \"a.pem\"\ntls_key_file = \"a.key\"",
		"degraded_after = \"30s\"",
	} {
		c, _, err := parse("edgegw.toml", []byte(head+"[admin]\n"+ok+"\n"), dir, nil)
		require.NoError(t, err, ok)
		if c.Admin.TLSCertFile != "" {
			require.Equal(t, filepath.Join(dir, "a.pem"), c.Admin.TLSCertFile, "relative to the file")
		}
	}
	for _, tc := range []struct{ body, want string }{
		{"listen = \"0.0.0.0:8080\"", `edgegw.toml:4:10: admin.listen: "0.0.0.0:8080" is not a loopback address: the admin page would be open to the network; set allow_remote = true with tls_cert_file and tls_key_file`},
		{"listen = \"192.0.2.10:8080\"\nallow_remote = true", "edgegw.toml:5:16: admin.allow_remote: a non-loopback listen address needs tls_cert_file and tls_key_file"},
		{"listen = \"[::]:8080\"", `"[::]:8080" is not a loopback address`},
		{"listen = \":8080\"", `":8080" is not a loopback address`},
		{"listen = \"gw.site.example:8080\"", "write the address as an IP address (or localhost), not a host name"},
		{"listen = \"127.0.0.1\"", `"127.0.0.1" is not host:port`},
		{"listen = \"127.0.0.1:http\"", `port "http" is not a number`},
		{"listen = \"127.0.0.1:70000\"", `port "70000" is not a number from 0 to 65535`},
		{"tls_cert_file = \"a.pem\"", "admin.tls_cert_file: tls_cert_file and tls_key_file go together"},
		{"degraded_after = \"0s\"", "admin.degraded_after: must be at least 1s, got 0s"},
		{"listn = \"127.0.0.1:1\"", "unknown key"},
		{"listen = 8080", "admin.listen"},
	} {
		_, _, err := parse("edgegw.toml", []byte(head+"[admin]\n"+tc.body+"\n"), dir, nil)
		require.ErrorContains(t, err, tc.want, tc.body)
	}
}
