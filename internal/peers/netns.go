package peers

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// netnsMarker is set in the environment of a test binary re-run inside a network namespace.
const netnsMarker = "EDGEGW_TEST_NETNS"

// InNetns makes the calling test run inside the network namespace ns: in the namespace it returns true
// and the test goes on; outside, it re-runs this one test there (`ip netns exec ns <test binary>
// -test.run '^Name$'`), reports the child's output and result as its own, and returns false, so the
// caller returns. Multicast tests use it: mDNS must never be sent in the host's namespace.
func InNetns(t *testing.T, ns string) bool {
	t.Helper()
	if os.Getenv(netnsMarker) == ns {
		return true
	}
	if os.Geteuid() != 0 {
		if InCI() {
			t.Fatal("entering a network namespace needs root")
		}
		t.Skip("entering a network namespace needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"netns", "exec", ns, os.Args[0], "-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1"}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Env = append(os.Environ(), netnsMarker+"="+ns)
	out, err := cmd.CombinedOutput()
	t.Logf("inside netns %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("%s in netns %s: %v", t.Name(), ns, err)
	}
	return false
}

// LoopbackNetns makes a network namespace of the test's own whose only interface, lo, carries
// multicast (lo up, multicast on, 224.0.0.0/4 routed to it), and deletes it when the test ends. Inside
// a test that InNetns re-ran in it, it returns that namespace's name and makes nothing. Needs root.
func LoopbackNetns(t *testing.T) string {
	t.Helper()
	if ns := os.Getenv(netnsMarker); ns != "" {
		return ns
	}
	if os.Geteuid() != 0 {
		if InCI() {
			t.Fatal("making a network namespace needs root")
		}
		t.Skip("making a network namespace needs root")
	}
	ns := "edgegw-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(int(nsSeq.Add(1)))
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	run("-n", ns, "link", "set", "lo", "up")
	run("-n", ns, "link", "set", "lo", "multicast", "on")
	run("-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo")
	return ns
}

var nsSeq atomic.Int64
