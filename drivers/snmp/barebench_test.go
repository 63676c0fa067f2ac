//go:build unix

package snmp

import (
	"encoding/csv"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/drivers/profile"
)

// BenchmarkBareLoop is the baseline of `make bench` (cmd/edgegw-bench): the simplest poller one could
// write with gosnmp alone, doing the same requests the gateway does for the same simulated devices
// at the same interval — every scalar point of the device's profile in one GET, every table column of
// it in one GETBULK — one gosnmp client per worker (64, as the gateway's default), devices spread
// evenly over the interval. No twins, no store, no uplink. It runs only when EDGEGW_BENCH_CSV names
// the simulator's device list (MAC,Serial,Address,Model); EDGEGW_BENCH_INTERVAL and
// EDGEGW_BENCH_WINDOW set the interval (10s) and how long to measure after one interval of warm-up
// (20s). It reports the process's CPU per poll and the share of polls started within a second of
// their due time.
func BenchmarkBareLoop(b *testing.B) {
	path := os.Getenv("EDGEGW_BENCH_CSV")
	if path == "" {
		b.Skip("EDGEGW_BENCH_CSV not set (cmd/edgegw-bench sets it)")
	}
	interval := envDuration(b, "EDGEGW_BENCH_INTERVAL", 10*time.Second)
	window := envDuration(b, "EDGEGW_BENCH_WINDOW", 20*time.Second)
	lib, err := profile.Load(nil, profile.Codecs{Protocol: Spec().Profile})
	if err != nil {
		b.Fatal(err)
	}
	type req struct{ scalars, columns []string }
	byModel := map[string]req{}
	for model, name := range map[string]string{"DP55": "acme-display", "BX4K": "acme-projector", "PS1500": "acme-ups"} {
		p := lib.Get(name)
		if p == nil {
			b.Fatalf("no profile %s", name)
		}
		var r req
		for i := range p.Points {
			if a, ok := p.Points[i].Address.(*Addr); ok {
				if a.Table {
					r.columns = append(r.columns, a.OID)
				} else {
					r.scalars = append(r.scalars, a.OID)
				}
			}
		}
		byModel[model] = r
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	type dev struct {
		host string
		port uint16
		r    req
	}
	var devs []dev
	if len(rows) > 0 {
		rows = rows[1:] // the header
	}
	for _, row := range rows {
		if len(row) < 4 || strings.HasPrefix(row[2], "modbus:") {
			continue
		}
		h, p, _ := strings.Cut(row[2], ":")
		port, _ := strconv.Atoi(p)
		devs = append(devs, dev{host: h, port: uint16(port), r: byModel[row[3]]})
	}
	if len(devs) == 0 {
		b.Fatalf("%s lists no SNMP device", path)
	}
	type job struct {
		d   *dev
		due time.Time
	}
	jobs := make(chan job, 1024)
	var polls, late, failed, measuring atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			g := &gosnmp.GoSNMP{Port: 161, Version: gosnmp.Version2c, Community: "public", Timeout: 2 * time.Second,
				Retries: 1, MaxOids: gosnmp.MaxOids, MaxRepetitions: 10}
			for j := range jobs {
				if measuring.Load() == 1 {
					polls.Add(1)
					if time.Since(j.due) > time.Second {
						late.Add(1)
					}
				}
				g.Target, g.Port = j.d.host, j.d.port
				if err := g.Connect(); err != nil {
					failed.Add(1)
					continue
				}
				_, err := g.Get(j.d.r.scalars)
				if err == nil && len(j.d.r.columns) > 0 {
					_, err = g.GetBulk(j.d.r.columns, 0, 4)
				}
				if err != nil {
					failed.Add(1)
				}
				g.Conn.Close()
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	end := start.Add(interval + window)
	var cpu0 time.Duration
	step := interval / time.Duration(len(devs))
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * step)
		if !due.Before(end) {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if measuring.Load() == 0 && !due.Before(start.Add(interval)) {
			cpu0 = cpuTime()
			measuring.Store(1)
		}
		jobs <- job{d: &devs[k%len(devs)], due: due}
	}
	measuring.Store(2)
	cpu := cpuTime() - cpu0
	close(jobs)
	wg.Wait()
	n := polls.Load()
	if n == 0 {
		b.Fatal("no polls measured")
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu-ms/poll")
	b.ReportMetric(100*(1-float64(late.Load())/float64(n)), "ontime-%")
	b.ReportMetric(float64(n), "polls")
	b.ReportMetric(float64(failed.Load()), "failed")
}

func envDuration(b *testing.B, key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("%s: %v", key, err)
	}
	return d
}
