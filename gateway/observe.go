package gateway

import "time"

// Observer is told how long the gateway's work takes and how it went, for metrics: the admin side's
// Prometheus collector implements it, so this package needs no metrics library. Its methods are called
// from the gateway's goroutines, often at once, and must return quickly.
type Observer interface {
	// PollDone reports one poll of one device over one protocol; err is nil when the device answered.
	PollDone(protocol string, took time.Duration, err error)
	// DiscoveryDone reports one discovery pass: the sightings by protocol and how many targets failed.
	DiscoveryDone(took time.Duration, found map[string]int, failed int)
	// FlushDone reports one write of changed twins to the state store.
	FlushDone(took time.Duration, twins int, err error)
}

// nopObserver is the Observer of a gateway given none.
type nopObserver struct{}

func (nopObserver) PollDone(string, time.Duration, error)            {}
func (nopObserver) DiscoveryDone(time.Duration, map[string]int, int) {}
func (nopObserver) FlushDone(time.Duration, int, error)              {}

// Running reports whether the poll scheduler runs (RunPolling, or Run).
func (g *Gateway) Running() bool { return g.polling.Load() }
