// Package peers gives tests the real servers that scripts/peers/peers.sh started (scripts/peers/README.md):
// it reads $PEERS_STATE/peers.env. A missing key fails the test when the peers are required — in CI
// (CI=true), and under `make test`, which installed and started them (EDGEGW_PEERS_STARTED=1) — and
// skips it elsewhere, so that `go test ./...` without the peers still runs the unit tests.
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
	env, _ := LoadFile(Path())
	return env
}

// LoadFile reads a peers.env at path: KEY=value lines, # comments. On an error the Env is empty.
func LoadFile(path string) (Env, error) {
	env := Env{}
	f, err := os.Open(path)
	if err != nil {
		return env, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return Env{}, err
	}
	return env, nil
}

// Need returns the values of keys, or stops the test: Fatal when the peers are required, Skip elsewhere.
func Need(t testing.TB, keys ...string) []string {
	t.Helper()
	env := Load()
	out := make([]string, len(keys))
	for i, k := range keys {
		v, ok := env[k]
		if !ok {
			msg := "peer key " + k + " missing from " + Path() + ": its peer is not running (`make test` as root starts them all: scripts/peers/peers.sh)"
			if InCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		out[i] = v
	}
	return out
}

// StartedEnv is set to 1 by scripts/test.sh once it has installed and started every peer.
const StartedEnv = "EDGEGW_PEERS_STARTED"

// InCI reports whether every real-peer test must run, never skip: in CI (CI=true), and when the test
// command started the peers (StartedEnv=1). A missing peer or tool then fails the test.
func InCI() bool { return os.Getenv("CI") == "true" || os.Getenv(StartedEnv) == "1" }

// root is the module's root directory.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Kit is the directory of the repository's peer scripts and the files they serve (scripts/peers).
func Kit() string { return filepath.Join(root(), "scripts", "peers") }

// Shared returns the path of ../shared/<rel> seen from the module root: third-party recordings whose
// licences keep them out of the repository. When it is absent (a clone without the shared folder) the
// test skips, saying so; in CI (CI=true), where the folder is always laid beside the clone, it fails.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(root(), "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		msg := "../shared/" + rel + " is absent (a clone without the shared folder of recordings)"
		if os.Getenv("CI") == "true" {
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
