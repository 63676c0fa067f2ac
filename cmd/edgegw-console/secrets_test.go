package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoSecretInErrors: the console's error and usage messages never echo a URL's user information,
// wherever a user put it (a flag, a positional argument, the --config path, a [cloud] url or proxy).
func TestNoSecretInErrors(t *testing.T) {
	const secret = "s3cr3t-pa55"
	dir := t.TempDir()
	bad := filepath.Join(dir, "console.toml")
	require.NoError(t, os.WriteFile(bad, []byte("[cloud]\nurl = \"amqps://u:"+secret+"@[broker\"\nproxy = \"https://u:"+secret+"@proxy:3128\"\n"), 0o600))
	for _, args := range [][]string{
		{"amqps://u:" + secret + "@broker"},
		{"--config", bad, "tail"},
		{"--config", "amqps://u:" + secret + "@broker", "tail"},
		{"--config", bad, "twin", "amqps://u:" + secret + "@broker"},
		{"--config", bad, "tail", "--count", "amqps://u:" + secret + "@broker"},
		{"--nope=amqps://u:" + secret + "@broker", "tail"},
	} {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		require.NotEqual(t, exitOK, code, "%v", args)
		require.NotContains(t, out.String()+errOut.String(), secret, "%v echoed the secret", args)
	}
}
