// Package peers gives tests the real servers the peers kit started (../shared/peers, see PEERS.md):
// it reads $PEERS_STATE/peers.env. A missing key fails the test in CI (CI=true) and skips it elsewhere,
// so a user's clone without ../shared still runs the unit tests.
package peers

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Path is the peers.env of the current PEERS_STATE (default /tmp/edgegw-peers).
func Path() string {
	dir := os.Getenv("PEERS_STATE")
	if dir == "" {
		dir = "/tmp/edgegw-peers"
	}
	return filepath.Join(dir, "peers.env")
}

// Env is a loaded peers.env.
type Env map[string]string

// Load reads peers.env; a missing file is an empty Env.
func Load() Env {
	env := Env{}
	f, err := os.Open(Path())
	if err != nil {
		return env
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env
}

// Need returns the values of keys, or stops the test: Fatal in CI, Skip elsewhere.
func Need(t testing.TB, keys ...string) []string {
	t.Helper()
	env := Load()
	out := make([]string, len(keys))
	for i, k := range keys {
		v, ok := env[k]
		if !ok {
			msg := "peer key " + k + " missing from " + Path() + ": run `make test` (it starts ../shared/peers)"
			if InCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		out[i] = v
	}
	return out
}

// InCI reports whether the tests run in CI, where every real-peer test must run.
func InCI() bool { return os.Getenv("CI") == "true" }

// Shared returns the path of ../shared/<rel> seen from the module root, or stops the test as Need does
// when it is absent.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	p := filepath.Join(root, "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		msg := "../shared/" + rel + " is absent (a clone without the shared folder)"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// SNMPGet reads one OID with net-snmp's own snmpget (v2c), so a check does not go through the code under
// test. Only stdout is the value: on a fresh machine net-snmp's first run also prints "Created directory:
// /var/lib/snmp/cert_indexes" on stderr, which must not end up in the value (it once did, and a test then
// wrote it back into snmpd's sysLocation).
func SNMPGet(t testing.TB, addr, community, oid string) string {
	t.Helper()
	bin, err := exec.LookPath("snmpget")
	if err != nil {
		if InCI() {
			t.Fatal("snmpget (net-snmp) is not installed")
		}
		t.Skip("snmpget (net-snmp) is not installed")
	}
	var stderr strings.Builder
	cmd := exec.Command(bin, "-v2c", "-c", community, "-Oqv", addr, oid)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("snmpget %s %s: %v: %s", addr, oid, err, stderr.String())
	}
	return strings.Trim(strings.TrimSpace(string(out)), `"`)
}
