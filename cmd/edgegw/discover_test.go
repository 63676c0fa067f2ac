package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/sim"
)

// TestDiscoverSweepSummary: after a sweep of a range, discover says what became of every address, as
// the SNMP driver counted it: two simulated devices in a /28 of 14 addresses, one of them listed
// again on its own.
func TestDiscoverSweepSummary(t *testing.T) {
	site, err := sim.Start(t.Context(), sim.Options{N: 2, Listen: "127.92.0.0/28", Shared: true})
	require.NoError(t, err)
	defer site.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-sweep"
state_dir = "state"
[[discovery.snmp]]
targets = ["127.92.0.0/28", %q]
port = %d
timeout = "300ms"
retries = 0
`, site.Devices()[0].Addr.String(), site.Devices()[0].Addr.Port())), 0o600))
	code, out, errOut := runCLI("discover", "--json", "--config", cfgPath)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, site.Devices()[1].Serial)
	m := regexp.MustCompile(`swept (\d+) addresses in \S+: (\d+) found, (\d+) silent, (\d+) failed`).FindStringSubmatch(errOut)
	require.NotNil(t, m, errOut)
	require.Equal(t, []string{"15", "3", "12", "0"}, m[1:], "14 swept addresses and the one listed on its own: three identity reads, 12 silent")
}
