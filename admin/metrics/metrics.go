// Package metrics is the gateway's Prometheus exposition (/metrics on the admin listener). Most series
// are read at scrape time from counters the packages already keep (gateway.Stats and Summary, the
// uplink's status and message counts, the outbox's stats); the timings the gateway reports through
// gateway.Observer feed three histograms. It is the only package that imports client_golang, so the
// core stays free of it. Every series is named edgegw_..., in base units (seconds, bytes), counters
// ending in _total (docs/operate.md lists them).
package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// Gateway is what the collector reads from the core (*gateway.Gateway is one).
type Gateway interface {
	Stats() gateway.Stats
	Summary() gateway.Summary
}

// Uplink is what it reads from the uplink (*uplink.Uplink is one).
type Uplink interface {
	Status() protocol.Uplink
	Enabled() bool
	Counts() map[string]uplink.KindCounts
}

// Outbox is what it reads from the outbox (*outbox.Outbox is one).
type Outbox interface {
	Stats() outbox.Stats
}

// Sources are what the series are read from. Uplink and Outbox are nil when the configuration has no
// cloud; their series then stay at zero.
type Sources struct {
	GatewayID string
	Version   string
	Started   time.Time
	Gateway   Gateway
	Uplink    Uplink
	Outbox    Outbox
	// Listeners returns what each event listener (the SNMP trap receiver) counted; nil: none.
	Listeners func() []gateway.ListenerStats
}

// upKinds are the message kinds that go up, shown at zero before the first of each.
var upKinds = []string{protocol.KindTelemetry, protocol.KindTwinReported, protocol.KindTwinFull, protocol.KindEvent,
	protocol.KindAudit, protocol.KindHealth}

// Metrics is the registry, the scrape-time collector and the histograms. It implements
// gateway.Observer.
type Metrics struct {
	reg *prometheus.Registry

	pollDuration    *prometheus.HistogramVec
	pollErrors      *prometheus.CounterVec
	discoveryTime   prometheus.Histogram
	discoveryFound  *prometheus.GaugeVec
	discoveryFailed prometheus.Gauge
	flushDuration   prometheus.Histogram
	flushErrors     prometheus.Counter

	mu       sync.Mutex
	flushErr error // of the last flush
}

var _ gateway.Observer = (*Metrics)(nil)

// New makes the registry and the series the gateway feeds (it is the gateway's Observer); Register adds
// the series read at scrape time, once the gateway and the uplink exist. protocols get their series at
// zero from the start.
func New(protocols []string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.pollDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "edgegw_poll_duration_seconds", Help: "Time one poll of one device over one protocol took.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"protocol"})
	m.pollErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgegw_poll_errors_total", Help: "Polls of a device over a protocol that got no answer.",
	}, []string{"protocol"})
	m.discoveryTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "edgegw_discovery_duration_seconds", Help: "Time one discovery pass over every target took.",
		Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
	})
	m.discoveryFound = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "edgegw_discovery_devices_found", Help: "Devices that answered in the last discovery pass, by protocol.",
	}, []string{"protocol"})
	m.discoveryFailed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "edgegw_discovery_target_errors", Help: "Targets that failed in the last discovery pass (wrong credentials, garbled replies).",
	})
	m.flushDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "edgegw_store_flush_duration_seconds", Help: "Time one write of changed twins to the state store took (one transaction, synced).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	m.flushErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgegw_store_flush_errors_total", Help: "Writes of changed twins to the state store that failed (retried at the next flush).",
	})
	for _, p := range protocols { // every protocol's series from the start, at zero
		m.pollDuration.WithLabelValues(p)
		m.pollErrors.WithLabelValues(p)
		m.discoveryFound.WithLabelValues(p)
	}
	m.reg.MustRegister(m.pollDuration, m.pollErrors, m.discoveryTime, m.discoveryFound, m.discoveryFailed,
		m.flushDuration, m.flushErrors)
	return m
}

// Register adds the series read at scrape time from src. Call it once, before serving Handler.
func (m *Metrics) Register(src Sources) {
	m.reg.MustRegister(scrape{src})
}

// Handler serves the registry in the Prometheus text format (or OpenMetrics when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, MaxRequestsInFlight: 4})
}

// Registry is the registry, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// PollDone implements gateway.Observer.
func (m *Metrics) PollDone(protocol string, took time.Duration, err error) {
	m.pollDuration.WithLabelValues(protocol).Observe(took.Seconds())
	if err != nil {
		m.pollErrors.WithLabelValues(protocol).Inc()
	}
}

// DiscoveryDone implements gateway.Observer.
func (m *Metrics) DiscoveryDone(took time.Duration, found map[string]int, failed int) {
	m.discoveryTime.Observe(took.Seconds())
	m.discoveryFound.Reset()
	for p, n := range found {
		m.discoveryFound.WithLabelValues(p).Set(float64(n))
	}
	m.discoveryFailed.Set(float64(failed))
}

// FlushDone implements gateway.Observer.
func (m *Metrics) FlushDone(took time.Duration, _ int, err error) {
	m.flushDuration.Observe(took.Seconds())
	if err != nil {
		m.flushErrors.Inc()
	}
	m.mu.Lock()
	m.flushErr = err
	m.mu.Unlock()
}

// LastFlushError is the error of the last write of twins to the store, nil when it worked: a store
// that cannot be written makes the gateway degraded.
func (m *Metrics) LastFlushError() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flushErr
}

// scrape is the collector of the series read at scrape time.
type scrape struct{ src Sources }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descInfo          = desc("edgegw_build_info", "Always 1: the gateway's id and version.", "gateway_id", "version")
	descStart         = desc("edgegw_start_time_seconds", "When the daemon started, in seconds since the Unix epoch.")
	descConnected     = desc("edgegw_uplink_connected", "1 while the cloud uplink is connected.")
	descEnabled       = desc("edgegw_uplink_enabled", "1 while the cloud uplink is configured and switched on (edgegw cloud enable).")
	descStateSince    = desc("edgegw_uplink_state_change_time_seconds", "When the uplink last changed state (connected, connecting, disabled), in seconds since the Unix epoch.")
	descReconnects    = desc("edgegw_uplink_reconnects_total", "Times the uplink lost its connection and dialed again.")
	descSent          = desc("edgegw_uplink_messages_sent_total", "Messages handed to the broker, by kind.", "kind")
	descAcked         = desc("edgegw_uplink_messages_acked_total", "Messages the broker accepted (then deleted from the outbox), by kind.", "kind")
	descDropped       = desc("edgegw_uplink_messages_dropped_total", "Messages that will never reach the cloud, by kind and reason: outbox_full (the oldest telemetry made room; counted over the state file's life), broker_rejected (dead-lettered).", "kind", "reason")
	descOutboxMsgs    = desc("edgegw_outbox_messages", "Messages in the on-disk outbox, by state (pending, in_flight).", "state")
	descOutboxBytes   = desc("edgegw_outbox_bytes", "Size of everything in the outbox, as counted against cloud.outbox_max_bytes.")
	descOutboxMax     = desc("edgegw_outbox_max_bytes", "cloud.outbox_max_bytes.")
	descDeadLettered  = desc("edgegw_outbox_dead_lettered_total", "Messages moved to the dead-letter bucket (rejected, or out of attempts), over the state file's life.")
	descDevices       = desc("edgegw_devices", "Devices in the inventory, by claim state, connectivity and kind.", "claim_state", "connectivity", "kind")
	descByProtocol    = desc("edgegw_devices_by_protocol", "Devices seen over each protocol (a device seen over two counts in both).", "protocol")
	descFailing       = desc("edgegw_devices_failing", "Devices whose last poll reported an error.")
	descPolls         = desc("edgegw_device_polls_total", "Device polls (all protocols of a device together).")
	descPollErrorsAll = desc("edgegw_device_poll_failures_total", "Device polls that got no value at all (all protocols of a device together).")
	descPollsLate     = desc("edgegw_device_polls_late_total", "Device polls that started more than a second after they were due (workers or CPU short).")
	descPasses        = desc("edgegw_discovery_passes_total", "Discovery passes since start.")
	descLastDiscovery = desc("edgegw_discovery_last_time_seconds", "When the last discovery pass ended, in seconds since the Unix epoch (0 before the first).")
	descNotifsIn      = desc("edgegw_notifications_received_total", "Datagrams the event listener (SNMP traps and informs) received, by protocol.", "protocol")
	descNotifs        = desc("edgegw_notifications_total", "What became of the notifications the event listener received, by protocol and outcome (accepted, rate_limited, bad_community, unknown_source, ...; docs/traps.md).", "protocol", "outcome")
)

func (c scrape) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descStart, descConnected, descEnabled, descStateSince, descReconnects,
		descSent, descAcked, descDropped, descOutboxMsgs, descOutboxBytes, descOutboxMax, descDeadLettered, descDevices,
		descByProtocol, descFailing, descPolls, descPollErrorsAll, descPollsLate, descPasses, descLastDiscovery, descNotifsIn, descNotifs} {
		ch <- d
	}
}

func (c scrape) Collect(ch chan<- prometheus.Metric) {
	src := c.src
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descInfo, 1, src.GatewayID, src.Version)
	gauge(descStart, unix(src.Started))

	// The uplink: zero when the configuration has none.
	var st protocol.Uplink
	enabled := false
	counts := map[string]uplink.KindCounts{}
	if src.Uplink != nil {
		st, enabled, counts = src.Uplink.Status(), src.Uplink.Enabled(), src.Uplink.Counts()
	}
	gauge(descConnected, b2f(st.State == "connected"))
	gauge(descEnabled, b2f(enabled))
	gauge(descStateSince, unix(st.Since))
	counter(descReconnects, float64(st.Reconnects))
	kinds := slices.Clone(upKinds)
	for k := range counts { // replies to commands (claim-result, ...) as they come
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	var ob outbox.Stats
	if src.Outbox != nil {
		ob = src.Outbox.Stats()
	}
	for _, k := range kinds {
		n := counts[k]
		counter(descSent, float64(n.Sent), k)
		counter(descAcked, float64(n.Acked), k)
		counter(descDropped, float64(n.Rejected), k, "broker_rejected")
	}
	// Only telemetry is ever dropped to make room (outbox.Telemetry is its only class).
	counter(descDropped, float64(ob.Dropped+ob.Rejected), protocol.KindTelemetry, "outbox_full")
	gauge(descOutboxMsgs, float64(ob.Pending), "pending")
	gauge(descOutboxMsgs, float64(ob.InFlight), "in_flight")
	gauge(descOutboxBytes, float64(ob.Bytes))
	gauge(descOutboxMax, float64(ob.MaxBytes))
	counter(descDeadLettered, float64(ob.DeadLettered))

	if src.Listeners != nil {
		for _, l := range src.Listeners() {
			for outcome, n := range l.Counts {
				if outcome == "received" {
					counter(descNotifsIn, float64(n), l.Protocol)
				} else {
					counter(descNotifs, float64(n), l.Protocol, outcome)
				}
			}
		}
	}
	if src.Gateway == nil {
		return
	}
	sum := src.Gateway.Summary()
	for _, g := range sum.Groups {
		gauge(descDevices, float64(g.Devices), g.ClaimState, g.Connectivity, g.Kind)
	}
	for p, n := range sum.ByProtocol {
		gauge(descByProtocol, float64(n), p)
	}
	gauge(descFailing, float64(sum.Failing))
	gs := src.Gateway.Stats()
	counter(descPolls, float64(gs.Polls))
	counter(descPollErrorsAll, float64(gs.PollErrors))
	counter(descPollsLate, float64(gs.PollsLate))
	counter(descPasses, float64(gs.DiscoveryPasses))
	gauge(descLastDiscovery, unix(gs.LastDiscovery))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
