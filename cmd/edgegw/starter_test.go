package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
)

var updateStarter = flag.Bool("update", false, "rewrite starter.toml from config.example.toml")

// TestStarterConfig keeps starter.toml what makeStarter makes of config.example.toml, so the packaged
// configuration documents every option the example does and cannot go stale.
func TestStarterConfig(t *testing.T) {
	example, err := os.ReadFile("../../config.example.toml")
	require.NoError(t, err)
	want, err := makeStarter(string(example))
	require.NoError(t, err)
	if *updateStarter {
		require.NoError(t, os.WriteFile("starter.toml", []byte(want), 0o644))
	}
	require.Equal(t, want, starterTOML,
		"starter.toml is stale: run go test ./cmd/edgegw -run TestStarterConfig -update")
}

// TestStarterConfigLoads: the starting configuration is valid as it is (with its paths moved to a
// temporary directory), targets nothing and has the cloud off.
func TestStarterConfigLoads(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "profiles"), 0o750))
	path := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(path, []byte(starterFor("gw-test-1", "state", "profiles")), 0o640))
	cfg, err := config.Load(path, protocols().tableCodecs()...)
	require.NoError(t, err)
	require.Equal(t, "gw-test-1", cfg.Gateway.ID)
	require.Equal(t, filepath.Join(dir, "state"), cfg.Gateway.StateDir)
	require.Equal(t, []string{filepath.Join(dir, "profiles")}, cfg.Profiles.Dirs)
	require.Empty(t, cfg.Discovery.Tables)
	require.False(t, cfg.Cloud.Enabled)
	require.Empty(t, cfg.Warnings())
}

func TestSetKey(t *testing.T) {
	const doc = `# id = "commented"
[gateway]
  id = "old" # the site's name
state_dir = '/var/lib/edgegw'

[other]
id = "not this one"
[profiles]
dirs = []
`
	for _, tc := range []struct {
		name, table, key, value, want string
		found                         bool
	}{
		{"id keeps indent and comment", "gateway", "id", "new-gw", `  id = "new-gw" # the site's name`, true},
		{"literal string", "gateway", "state_dir", `C:\ProgramData\edgegw\state`, `state_dir = 'C:\ProgramData\edgegw\state'`, true},
		{"list", "profiles", "dirs", "profiles", `dirs = ["profiles"]`, true},
		{"absent", "gateway", "nope", "x", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := setKey(doc, tc.table, tc.key, tc.value)
			require.Equal(t, tc.found, found)
			if !found {
				require.Equal(t, doc, got)
				return
			}
			require.Contains(t, got, tc.want+"\n")
			require.Contains(t, got, `id = "not this one"`)
			require.Contains(t, got, `# id = "commented"`)
		})
	}
	require.Equal(t, `"it's \"x\"\\y"`, tomlString(`it's "x"\y`))
}
