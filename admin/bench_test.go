package admin

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink/protocol"
)

var (
	big     *Server
	bigGW   *gateway.Gateway
	bigOnce sync.Once
)

// bigSite is a gateway with 50,000 devices of five kinds over two protocols, a tenth of them claimed and
// a twentieth failing.
func bigSite(b *testing.B) (*Server, *gateway.Gateway) {
	bigOnce.Do(func() {
		gw, err := gateway.New(gateway.Options{})
		if err != nil {
			b.Fatal(err)
		}
		kinds := []string{"display", "projector", "ups", "pdu", "sensor"}
		for i := range 50_000 {
			proto := "snmp"
			if i%4 == 0 {
				proto = "modbus"
			}
			gw.Observe(gateway.Sighting{Protocol: proto, Address: fmt.Sprintf("10.%d.%d.%d:161", i>>16, (i>>8)&255, i&255),
				Identity: gateway.Identity{MAC: fmt.Sprintf("02:01:00:%02x:%02x:%02x", i>>16, (i>>8)&255, i&255),
					Serial: fmt.Sprintf("SN-%06d", i), Manufacturer: "ACME", Model: fmt.Sprintf("M%03d", i%997), Kind: kinds[i%5],
					IP: fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)}})
		}
		s, err := New(Options{Gateway: gw, StateDir: b.TempDir(), Config: config.Admin{DegradedAfter: 1},
			Health: func() protocol.Health { return protocol.Health{GatewayID: "bench"} }})
		if err != nil {
			b.Fatal(err)
		}
		big, bigGW = s, gw
	})
	return big, bigGW
}

// BenchmarkDevices50k: GET /api/devices and the devices page over 50,000 twins, through the whole
// handler (JSON or HTML included). BENCHMARKS.md has the figures.
func BenchmarkDevices50k(b *testing.B) {
	s, gw := bigSite(b)
	h := s.handler(true)
	for _, bc := range []struct{ name, target string }{
		{"api-first-page", "/api/devices"},
		{"api-last-page", "/api/devices?offset=49900"},
		{"api-filter-kind-claim", "/api/devices?kind=ups&connectivity=online&limit=100"},
		{"api-text-search", "/api/devices?q=sn-04999"},
		{"api-no-match", "/api/devices?q=nothing-like-this"},
		{"api-sort-model-desc", "/api/devices?sort=model&order=desc"},
		{"api-sort-lastseen-filtered", "/api/devices?sort=lastSeen&protocol=modbus"},
		{"page-first", "/devices"},
		{"page-sorted-filtered", "/devices?sort=model&kind=pdu&page=20"},
		{"api-status", "/api/status"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", bc.target, nil))
				if w.Code != 200 {
					b.Fatalf("%s: %d %s", bc.target, w.Code, w.Body.String())
				}
			}
		})
	}
	// For comparison: copying every twin, as a list built on Gateway.Twins would on every request.
	b.Run("copy-all-twins", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if len(gw.Twins()) != 50_000 {
				b.Fatal("twins")
			}
		}
	})
}
