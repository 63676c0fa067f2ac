package peers

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// oneArcOID is a recorded OID value of a single arc ("|6|0"), which snmpsim 0.4.5 cannot encode: it
// never answers the request. Replays rewrite it to the two-arc "0.0".
var oneArcOID = regexp.MustCompile(`(?m)^([^|\n]+)\|6\|0(\r?)$`)

// StartSNMPSim runs Debian's snmpsimd of a test's own on a free loopback UDP port, replaying every
// .snmprec in src (read from a scratch copy with one-arc OID values rewritten, so src is never touched),
// and stops it by PID when the test ends. The SNMP community of each recording is its file name without
// .snmprec. As root the agent runs as nobody, as scripts/peers/peers.sh runs its own. It returns host:port.
func StartSNMPSim(t testing.TB, src string) string {
	t.Helper()
	bin, err := exec.LookPath("snmpsimd")
	if err != nil {
		bin = "/usr/bin/snmpsimd"
		if _, err := os.Stat(bin); err != nil {
			msg := "snmpsimd is not installed (scripts/peers/peers.sh install installs Debian's snmpsim)"
			if InCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	// Not t.TempDir(): that is 0700, and the agent runs as nobody.
	dir, err := os.MkdirTemp("", "edgegw-snmpsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data, cache := filepath.Join(dir, "data"), filepath.Join(dir, "cache")
	for _, d := range []string{data, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := filepath.Glob(filepath.Join(src, "*.snmprec"))
	if len(recs) == 0 {
		t.Fatalf("no .snmprec recordings in %s", src)
	}
	for _, r := range recs {
		b, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		b = oneArcOID.ReplaceAll(b, []byte("$1|6|0.0$2"))
		if err := os.WriteFile(filepath.Join(data, filepath.Base(r)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port := freeUDPPort(t)
	if udpPortTaken(port) {
		t.Fatalf("udp port %d was taken meanwhile", port)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// --v2c-arch: v1/v2c only, the faster of snmpsim's two engines; no request log (it logs every
	// varbind, which costs more than answering).
	args := []string{"--v2c-arch", "--data-dir=" + data, "--cache-dir=" + cache, "--agent-udpv4-endpoint=" + addr,
		"--logging-method=null"}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
		chownAll(t, dir)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start snmpsimd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// Ready when a recording answers a GET: snmpsimd binds its port first and indexes the recordings
	// after, answering nothing meanwhile (seconds for a few hundred files on a loaded machine).
	community := strings.TrimSuffix(filepath.Base(recs[0]), ".snmprec")
	deadline := time.Now().Add(180 * time.Second)
	for !answers(addr, community) {
		select {
		case <-exited:
			t.Fatalf("snmpsimd exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmpsimd on %s did not answer within 180 s: %s", addr, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return addr
}

// answers reports whether an SNMP agent at addr answers a v2c GET of sysObjectID for community, with
// net-snmp's snmpget (installed with the peers), so the check does not go through the code under test.
func answers(addr, community string) bool {
	bin, err := exec.LookPath("snmpget")
	if err != nil {
		return udpPortTaken(portOf(addr)) // no snmpget: the bound port is the best sign there is
	}
	out, err := exec.Command(bin, "-v2c", "-c", community, "-t", "2", "-r", "0", "-Oqv", addr, "1.3.6.1.2.1.1.2.0").Output()
	return err == nil && len(strings.TrimSpace(string(out))) > 0
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// freeUDPPort returns a UDP port nobody holds at 127.0.0.1 right now.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// udpPortTaken reports whether binding 127.0.0.1:port fails, i.e. another process holds it.
func udpPortTaken(port int) bool {
	c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return strings.Contains(err.Error(), "in use")
	}
	c.Close()
	return false
}

func chownAll(t testing.TB, dir string) {
	t.Helper()
	out, err := exec.Command("chown", "-R", "nobody:nogroup", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("chown %s: %v: %s", dir, err, out)
	}
}
