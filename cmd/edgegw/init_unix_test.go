//go:build unix

package main

import (
	"os"
	"os/user"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInitAsRootGivesTheKeyToTheGatewayUser: run by root for another account, the key belongs to that
// account and the configuration to root and the account's group.
func TestInitAsRootGivesTheKeyToTheGatewayUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("root only")
	}
	u, err := user.Lookup("nobody")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "gw")
	code, out, errOut := runCLI("init", "--dir", dir, "--id", "gw-root", "--user", "nobody")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "owned by nobody")
	owner := func(p string) (string, string) {
		fi, err := os.Stat(filepath.Join(dir, p))
		require.NoError(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		return itoa(int(st.Uid)), itoa(int(st.Gid))
	}
	uid, gid := owner("gateway.key")
	require.Equal(t, [2]string{u.Uid, u.Gid}, [2]string{uid, gid})
	uid, gid = owner("state")
	require.Equal(t, [2]string{u.Uid, u.Gid}, [2]string{uid, gid})
	uid, gid = owner("edgegw.toml")
	require.Equal(t, [2]string{"0", u.Gid}, [2]string{uid, gid})
	code, out, _ = runCLI("init", "--check", "--dir", dir, "--user", "nobody")
	require.Equal(t, 1, code) // no certificate yet, but the key is right
	require.Contains(t, out, "cert_file and cloud.key_file are not set")
}
