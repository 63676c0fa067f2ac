//go:build unix

package modbus

import (
	"context"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPollEM100 polls the 14 points of the acme-em100 profile (input, holding, coil and discrete
// points, 2 to 8 registers each) from pymodbus through a counting proxy: "coalesced" is the driver's
// Poll of the whole profile, "per-point" one request per point as a register-at-a-time poller does.
// Reported: requests per device poll and the test process's CPU per 1,000 polls, which includes the
// in-process proxy; "coalesced-direct" polls pymodbus without it, for the driver's own CPU. pymodbus's
// time is not counted, but wall time is mostly pymodbus.
func BenchmarkPollEM100(b *testing.B) {
	srv := peers.StartModbus(b, peers.ModbusOptions{})
	lib := library(b)
	points := lib.Get("acme-em100").Points
	for _, mode := range []string{"coalesced", "per-point", "coalesced-direct"} {
		b.Run(mode, func(b *testing.B) {
			px := newProxy(b, srv.Addr)
			addr := px.addr
			if mode == "coalesced-direct" { // no proxy: the gateway's CPU alone, requests not counted
				addr = srv.Addr
			}
			d, err := New(Options{Tables: []Table{{Name: "t", Targets: []gateway.Target{{Host: "127.0.0.1", Port: portOf(addr)}}}}})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			ep := gateway.Endpoint{Protocol: Protocol, Address: addr + "?unit=1", Credential: "t"}
			ctx := context.Background()
			pollOnce := func() {
				if mode != "per-point" {
					if _, err := d.Poll(ctx, ep, points); err != nil {
						b.Fatal(err)
					}
					return
				}
				for i := range points {
					if _, err := d.Poll(ctx, ep, points[i:i+1]); err != nil {
						b.Fatal(err)
					}
				}
			}
			pollOnce() // connect
			px.requests.Store(0)
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				pollOnce()
			}
			b.StopTimer()
			if mode != "coalesced-direct" {
				b.ReportMetric(float64(px.requests.Load())/float64(b.N), "requests/poll")
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-s/1000polls")
		})
	}
}

func portOf(addr string) uint16 {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		panic(err)
	}
	return ap.Port()
}
