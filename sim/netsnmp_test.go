package sim

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// netSNMP returns the path of a net-snmp command-line tool. It skips when the
// tool is missing outside CI; in CI (CI=true) a missing tool fails, since a
// real-peer test that silently skips there is a defect.
func netSNMP(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (apt-get install -y snmp): %v", name, err)
		}
		t.Skipf("%s not installed (apt-get install -y snmp)", name)
	}
	return path
}

func runNetSNMP(t *testing.T, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// -M/-m: no MIB files, so output is numeric and independent of what
	// MIBs the machine has; -On: numeric OIDs.
	args = append([]string{"-M", t.TempDir(), "-m", "", "-On", "-t", "1", "-r", "1"}, args...)
	cmd := exec.CommandContext(ctx, path, args...)
	// No ~/.snmp/ persistent state from or for other runs.
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+t.TempDir(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %s:\n%s%s", path, strings.Join(args, " "), out, stderr.String())
	return string(out)
}

// TestNetSNMPClient checks the simulator against net-snmp's own client, a
// real peer: a v2c walk of every object and v3 authPriv gets.
func TestNetSNMPClient(t *testing.T) {
	walk := netSNMP(t, "snmpwalk")
	get := netSNMP(t, "snmpget")
	s, _ := startSite(t, 3)
	for _, d := range s.Devices() {
		t.Run(d.Kind, func(t *testing.T) {
			target := d.Addr.String()
			out := runNetSNMP(t, walk, "-v2c", "-c", "public", target, ".1.3.6.1")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			// Walking from the root, snmpwalk reports the endOfMibView it
			// meets after the last object, as it does with any agent.
			require.Contains(t, lines[len(lines)-1], "No more variables left in this MIB View")
			require.Len(t, lines, len(s.mibs[s.devices[d.Index].kind])+1, out)
			require.Contains(t, out, `.1.3.6.1.2.1.1.1.0 = STRING: "`+d.SysDescr+`"`)
			require.Contains(t, out, ".1.3.6.1.2.1.1.2.0 = OID: "+d.SysObjectID)
			require.Contains(t, out, ".1.3.6.1.2.1.1.3.0 = Timeticks: ")
			require.Contains(t, out, `.1.3.6.1.2.1.47.1.1.1.1.11.1 = STRING: "`+d.Serial+`"`)

			for _, v3 := range [][]string{
				{"-u", testUser, "-a", "SHA"},
				{"-u", testUser + "256", "-a", "SHA-256"},
			} {
				args := append([]string{"-v3", "-l", "authPriv"}, v3...)
				args = append(args, "-A", testAuthPass, "-x", "AES", "-X", testPrivPass, target,
					".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.1.0")
				out = runNetSNMP(t, get, args...)
				require.Contains(t, out, `.1.3.6.1.2.1.1.5.0 = STRING: "`+d.Hostname+`"`)
				require.Contains(t, out, `.1.3.6.1.2.1.1.1.0 = STRING: "`+d.SysDescr+`"`)
			}
		})
	}

	t.Run("v2c set", func(t *testing.T) {
		set := netSNMP(t, "snmpset")
		target := s.Devices()[0].Addr.String()
		out := runNetSNMP(t, set, "-v2c", "-c", "private", target, ".1.3.6.1.2.1.1.6.0", "s", "Hall C")
		require.Contains(t, out, `.1.3.6.1.2.1.1.6.0 = STRING: "Hall C"`)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, set, "-M", t.TempDir(), "-m", "", "-t", "1", "-r", "0",
			"-v2c", "-c", "public", target, ".1.3.6.1.2.1.1.6.0", "s", "nope")
		cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+t.TempDir(), "HOME="+t.TempDir())
		b, err := cmd.CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(b), "noAccess", string(b))
	})

	t.Run("v3 wrong password", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, get, "-M", t.TempDir(), "-m", "", "-t", "1", "-r", "0",
			"-v3", "-l", "authPriv", "-u", testUser, "-a", "SHA", "-A", "wrongpass1", "-x", "AES", "-X", testPrivPass,
			s.Devices()[0].Addr.String(), ".1.3.6.1.2.1.1.5.0")
		cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+t.TempDir(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(out), "Authentication failure", string(out))
	})
}
