package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCloudTable(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret-password\n"), 0o600))
	head := "[gateway]\nid = \"gw\"\n"
	ok := head + `[cloud]
enabled = true
url = "wss://127.0.0.1:15681/amqp"
sasl = "PLAIN"
username = "gwuser"
password_file = "pw"
down_address = "/queue/down.{gateway_id}"
`
	c, _, err := parse("edgegw.toml", []byte(ok), dir, nil)
	require.NoError(t, err)
	require.Equal(t, "plain", c.Cloud.Mechanism())
	require.Equal(t, "s3cret-password", c.Cloud.Password.Reveal())
	require.Equal(t, "/queue/down.gw", c.Cloud.Address(c.Cloud.DownAddress, c.Gateway.ID))
	require.Equal(t, "/queue/edgegw.up", c.Cloud.UpAddress)

	for _, tc := range []struct{ body, want string }{
		{"[cloud]\nenabled = true\n", "cloud.url: required when cloud.enabled = true"},
		{"[cloud]\nenabled = true\nurl = \"amqp://127.0.0.1:15672\"\n", "amqp:// sends everything in clear text"},
		{"[cloud]\nenabled = true\nurl = \"http://127.0.0.1\"\n", `scheme "http" is not amqps, wss, amqp or ws`},
		{"[cloud]\nenabled = true\nurl = \"amqps://u:p@127.0.0.1\"\n", "must not hold credentials"},
		{"[cloud]\nsasl = \"scram\"\n", `cloud.sasl: "scram" is not one of`},
		{"[cloud]\nenabled = true\nurl = \"amqps://127.0.0.1:1\"\nsasl = \"external\"\n", "external needs cert_file and key_file"},
		{"[cloud]\nenabled = true\nurl = \"amqps://127.0.0.1:1\"\nsasl = \"plain\"\n", "cloud.username: required"},
		{"[cloud]\ncert_file = \"c.pem\"\n", "cert_file and key_file go together"},
		{"[cloud]\nproxy = \"socks5://127.0.0.1:1080\"\n", "is not an http://host:port proxy URL"},
		{"[cloud]\nwindow = 0\n", "cloud.window"},
		{"[cloud]\noutbox_max_bytes = 10\n", "at least 1048576"},
		{"[cloud]\nhealth_interval = \"5x\"\n", `"5x" is not a duration`},
		{"[cloud]\npasword_file = \"pw\"\n", "unknown key"},
	} {
		_, _, err := parse("edgegw.toml", []byte(head+tc.body), dir, nil)
		require.ErrorContains(t, err, tc.want, tc.body)
		require.NotContains(t, err.Error(), "s3cret")
	}
	_, _, err = parse("edgegw.toml", []byte(head+"[cloud]\nenabled = true\nurl = \"amqps://127.0.0.1:1\"\nsasl = \"plain\"\nusername = \"u\"\npassword_file = \"pw\"\nproxy_auth_file = \"pw\"\n"), dir, nil)
	require.ErrorContains(t, err, "must hold user:password")
	require.False(t, strings.Contains(err.Error(), "s3cret"))
}
