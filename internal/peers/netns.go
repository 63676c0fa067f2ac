package peers

import (
	"context"
	"os"
	"os/exec"
	"regexp"
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
