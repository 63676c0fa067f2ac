package metrics

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

type fakeUplink struct{}

func (fakeUplink) Status() protocol.Uplink {
	return protocol.Uplink{State: "connected", Since: time.Unix(1700000000, 0), Reconnects: 2}
}
func (fakeUplink) Enabled() bool { return true }
func (fakeUplink) Counts() map[string]uplink.KindCounts {
	return map[string]uplink.KindCounts{protocol.KindTelemetry: {Sent: 10, Acked: 9, Rejected: 1}, "claim-result": {Sent: 1, Acked: 1}}
}

type fakeOutbox struct{}

func (fakeOutbox) Stats() outbox.Stats {
	return outbox.Stats{Pending: 5, InFlight: 2, Bytes: 4096, MaxBytes: 1 << 26, Dropped: 3, Rejected: 1, DeadLettered: 1}
}

// scrapeText serves /metrics and parses it with Prometheus's own text parser.
func scrapeText(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, w.Code)
	require.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain"), w.Header().Get("Content-Type"))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	require.NoError(t, err, "the exposition parses")
	return fams
}

func value(t *testing.T, f *dto.MetricFamily, labels ...string) float64 {
	t.Helper()
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.Counter.GetValue()
		case dto.MetricType_GAUGE:
			return m.Gauge.GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("%s has no series %v", f.GetName(), labels)
	return 0
}

// TestExposition: every series the issue names, with its type, parsed by Prometheus's text parser;
// every name starts with edgegw_.
func TestExposition(t *testing.T) {
	gw, err := gateway.New(gateway.Options{})
	require.NoError(t, err)
	for i, k := range []string{"display", "display", "ups"} {
		gw.Observe(gateway.Sighting{Protocol: "snmp", Address: fmt.Sprintf("127.0.0.1:%d", 16100+i),
			Identity: gateway.Identity{MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1), Serial: "S", Kind: k}})
	}
	gw.Observe(gateway.Sighting{Protocol: "mdns", Address: "display-01.local", Identity: gateway.Identity{MAC: "02:00:00:00:00:01"}})
	m := New([]string{"snmp", "modbus", "mdns"})
	m.Register(Sources{GatewayID: "gw-1", Version: "1.2.3", Started: time.Unix(1700000000, 0), Gateway: gw,
		Uplink: fakeUplink{}, Outbox: fakeOutbox{},
		Listeners: func() []gateway.ListenerStats {
			return []gateway.ListenerStats{{Protocol: "snmp", Counts: map[string]uint64{"received": 7, "accepted": 5, "rate_limited": 2}}}
		}})
	m.PollDone("snmp", 30*time.Millisecond, nil)
	m.PollDone("snmp", 2*time.Second, errors.New("no answer"))
	m.DiscoveryDone(3*time.Second, map[string]int{"snmp": 3, "mdns": 1}, 2)
	m.FlushDone(4*time.Millisecond, 3, nil)

	fams := scrapeText(t, m)
	for name := range fams {
		require.True(t, strings.HasPrefix(name, "edgegw_"), name)
	}
	want := map[string]dto.MetricType{
		"edgegw_build_info":                       dto.MetricType_GAUGE,
		"edgegw_start_time_seconds":               dto.MetricType_GAUGE,
		"edgegw_uplink_connected":                 dto.MetricType_GAUGE,
		"edgegw_uplink_enabled":                   dto.MetricType_GAUGE,
		"edgegw_uplink_state_change_time_seconds": dto.MetricType_GAUGE,
		"edgegw_uplink_reconnects_total":          dto.MetricType_COUNTER,
		"edgegw_uplink_messages_sent_total":       dto.MetricType_COUNTER,
		"edgegw_uplink_messages_acked_total":      dto.MetricType_COUNTER,
		"edgegw_uplink_messages_dropped_total":    dto.MetricType_COUNTER,
		"edgegw_outbox_messages":                  dto.MetricType_GAUGE,
		"edgegw_outbox_bytes":                     dto.MetricType_GAUGE,
		"edgegw_outbox_max_bytes":                 dto.MetricType_GAUGE,
		"edgegw_outbox_dead_lettered_total":       dto.MetricType_COUNTER,
		"edgegw_devices":                          dto.MetricType_GAUGE,
		"edgegw_devices_by_protocol":              dto.MetricType_GAUGE,
		"edgegw_devices_failing":                  dto.MetricType_GAUGE,
		"edgegw_device_polls_total":               dto.MetricType_COUNTER,
		"edgegw_device_poll_failures_total":       dto.MetricType_COUNTER,
		"edgegw_device_polls_late_total":          dto.MetricType_COUNTER,
		"edgegw_poll_duration_seconds":            dto.MetricType_HISTOGRAM,
		"edgegw_poll_errors_total":                dto.MetricType_COUNTER,
		"edgegw_discovery_passes_total":           dto.MetricType_COUNTER,
		"edgegw_discovery_last_time_seconds":      dto.MetricType_GAUGE,
		"edgegw_discovery_duration_seconds":       dto.MetricType_HISTOGRAM,
		"edgegw_discovery_devices_found":          dto.MetricType_GAUGE,
		"edgegw_discovery_target_errors":          dto.MetricType_GAUGE,
		"edgegw_store_flush_duration_seconds":     dto.MetricType_HISTOGRAM,
		"edgegw_store_flush_errors_total":         dto.MetricType_COUNTER,
		"edgegw_notifications_received_total":     dto.MetricType_COUNTER,
		"edgegw_notifications_total":              dto.MetricType_COUNTER,
	}
	for name, typ := range want {
		f, ok := fams[name]
		require.True(t, ok, "missing %s", name)
		require.Equal(t, typ, f.GetType(), name)
		require.NotEmpty(t, f.GetHelp(), name)
	}
	require.Len(t, fams, len(want), "a series not in the list (and docs/operate.md)")

	require.Equal(t, 1.0, value(t, fams["edgegw_build_info"], "gateway_id", "gw-1", "version", "1.2.3"))
	require.Equal(t, 1.0, value(t, fams["edgegw_uplink_connected"]))
	require.Equal(t, 2.0, value(t, fams["edgegw_uplink_reconnects_total"]))
	require.Equal(t, 10.0, value(t, fams["edgegw_uplink_messages_sent_total"], "kind", "telemetry"))
	require.Equal(t, 0.0, value(t, fams["edgegw_uplink_messages_sent_total"], "kind", "twin-full"), "every up kind from the start")
	require.Equal(t, 1.0, value(t, fams["edgegw_uplink_messages_acked_total"], "kind", "claim-result"))
	require.Equal(t, 4.0, value(t, fams["edgegw_uplink_messages_dropped_total"], "kind", "telemetry", "reason", "outbox_full"))
	require.Equal(t, 1.0, value(t, fams["edgegw_uplink_messages_dropped_total"], "kind", "telemetry", "reason", "broker_rejected"))
	require.Equal(t, 5.0, value(t, fams["edgegw_outbox_messages"], "state", "pending"))
	require.Equal(t, 2.0, value(t, fams["edgegw_outbox_messages"], "state", "in_flight"))
	require.Equal(t, 4096.0, value(t, fams["edgegw_outbox_bytes"]))
	require.Equal(t, 2.0, value(t, fams["edgegw_devices"], "claim_state", "unclaimed", "connectivity", "online", "kind", "display"))
	require.Equal(t, 1.0, value(t, fams["edgegw_devices"], "kind", "ups"))
	require.Equal(t, 1.0, value(t, fams["edgegw_devices_by_protocol"], "protocol", "mdns"))
	require.Equal(t, 3.0, value(t, fams["edgegw_devices_by_protocol"], "protocol", "snmp"))
	require.Equal(t, 2.0, value(t, fams["edgegw_poll_duration_seconds"], "protocol", "snmp"))
	require.Equal(t, 0.0, value(t, fams["edgegw_poll_duration_seconds"], "protocol", "modbus"), "every protocol from the start")
	require.Equal(t, 1.0, value(t, fams["edgegw_poll_errors_total"], "protocol", "snmp"))
	require.Equal(t, 3.0, value(t, fams["edgegw_discovery_devices_found"], "protocol", "snmp"))
	require.Equal(t, 2.0, value(t, fams["edgegw_discovery_target_errors"]))
	require.Equal(t, 1.0, value(t, fams["edgegw_store_flush_duration_seconds"]))
	require.Equal(t, 7.0, value(t, fams["edgegw_notifications_received_total"], "protocol", "snmp"))
	require.Equal(t, 2.0, value(t, fams["edgegw_notifications_total"], "protocol", "snmp", "outcome", "rate_limited"))
	require.NoError(t, m.LastFlushError())
	m.FlushDone(time.Millisecond, 1, errors.New("disk full"))
	require.EqualError(t, m.LastFlushError(), "disk full")
	require.Equal(t, 1.0, value(t, scrapeText(t, m)["edgegw_store_flush_errors_total"]))
}

// TestNoCloud: without an uplink, its series are there at zero.
func TestNoCloud(t *testing.T) {
	gw, err := gateway.New(gateway.Options{})
	require.NoError(t, err)
	m := New([]string{"snmp"})
	m.Register(Sources{GatewayID: "gw-1", Gateway: gw})
	fams := scrapeText(t, m)
	require.Equal(t, 0.0, value(t, fams["edgegw_uplink_connected"]))
	require.Equal(t, 0.0, value(t, fams["edgegw_uplink_enabled"]))
	require.Equal(t, 0.0, value(t, fams["edgegw_outbox_messages"], "state", "pending"))
	require.Equal(t, 0.0, value(t, fams["edgegw_uplink_messages_sent_total"], "kind", "health"))
}
