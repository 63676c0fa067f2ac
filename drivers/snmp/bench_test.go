//go:build unix

package snmp

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/sim"
)

// The points of the simulator's display profile: nine scalars, as a real display profile has. (A third of
// the simulated devices are displays; the others answer noSuchObject for the display's own OIDs, which
// costs the same.)
var benchPoints = []gateway.Point{
	{Name: "uptimeSeconds", Address: &Addr{OID: ".1.3.6.1.2.1.1.3.0"}, Type: gateway.TypeTimeticks},
	{Name: "hostname", Address: &Addr{OID: ".1.3.6.1.2.1.1.5.0"}, Type: gateway.TypeString},
	{Name: "location", Address: &Addr{OID: ".1.3.6.1.2.1.1.6.0"}, Type: gateway.TypeString},
	{Name: "contact", Address: &Addr{OID: ".1.3.6.1.2.1.1.4.0"}, Type: gateway.TypeString},
	{Name: "temperatureCelsius", Address: &Addr{OID: ".1.3.6.1.4.1.99999.1.1.1.0"}, Type: gateway.TypeInt, Scale: 0.1},
	{Name: "powerState", Address: &Addr{OID: ".1.3.6.1.4.1.99999.1.1.2.0"}, Type: gateway.TypeEnum, Enum: map[int64]string{1: "on", 2: "standby"}},
	{Name: "inputSource", Address: &Addr{OID: ".1.3.6.1.4.1.99999.1.1.3.0"}, Type: gateway.TypeInt},
	{Name: "backlight", Address: &Addr{OID: ".1.3.6.1.4.1.99999.1.1.4.0"}, Type: gateway.TypeInt},
	{Name: "ifSpeed", Address: &Addr{OID: ".1.3.6.1.2.1.2.2.1.5.2"}, Type: gateway.TypeUint},
}

// benchSite gives the addresses of simulated displays. With EDGEGW_SIM_BIN set (scripts/bench.sh) the
// simulator runs as its own process, so this process's CPU time is the gateway's alone; otherwise it
// runs in-process and the figure includes the simulator's work.
func benchSite(b *testing.B, n int) []string {
	b.Helper()
	if bin := os.Getenv("EDGEGW_SIM_BIN"); bin != "" {
		cmd := exec.Command(bin, "--snmp", fmt.Sprint(n), "--base-port", "0", "--devices-csv", "-")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
		var addrs []string
		sc := bufio.NewScanner(out)
		for len(addrs) < n && sc.Scan() {
			f := strings.Split(sc.Text(), ",")
			if len(f) >= 4 && f[0] != "MAC" { // every row but the header
				addrs = append(addrs, f[2])
			}
		}
		go func() {
			for sc.Scan() {
			}
		}()
		return addrs
	}
	site, err := sim.Start(context.Background(), sim.Options{N: n, BasePort: 0})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { site.Close() })
	var addrs []string
	for _, d := range site.Devices() {
		addrs = append(addrs, d.Addr.String())
	}
	return addrs
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPollSim polls simulated devices, 64 at once, and reports the gateway's CPU seconds per 1,000
// device polls: "batched" reads a device's nine points in one GET (what the driver does); "per-oid"
// makes one GET per point (Telegraf's way), for comparison.
func BenchmarkPollSim(b *testing.B) {
	addrs := benchSite(b, 200)
	for _, mode := range []string{"batched", "per-oid"} {
		b.Run(mode, func(b *testing.B) {
			g := Group{Credentials: Credentials{Name: "bench", Version: V2c, Community: "public"}, Timeout: 2 * time.Second, Retries: 1}
			d, err := New(Options{Groups: []Group{g}, Concurrency: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			for _, a := range addrs {
				if _, err := netip.ParseAddrPort(a); err != nil {
					b.Fatalf("bad address %q", a)
				}
			}
			var next, failed atomic.Int64
			poll := func(i int) {
				ep := gateway.Endpoint{Protocol: Protocol, Address: addrs[i%len(addrs)], Credential: "bench"}
				if mode == "batched" {
					if _, err := d.Poll(context.Background(), ep, benchPoints); err != nil {
						failed.Add(1)
					}
					return
				}
				for _, p := range benchPoints {
					if _, err := d.Poll(context.Background(), ep, []gateway.Point{p}); err != nil {
						failed.Add(1)
					}
				}
			}
			poll(0) // sockets opened outside the measurement
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime()
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						poll(i)
					}
				})
			}
			wg.Wait()
			cpu := cpuTime() - start
			b.StopTimer()
			b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-s/1000polls")
			if failed.Load() > 0 {
				b.Errorf("%d polls failed", failed.Load())
			}
		})
	}
}
