package admin

import (
	"fmt"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// Health states of a Status.
const (
	Healthy  = "healthy"
	Degraded = "degraded"
)

// Status is the gateway at a glance: GET /api/status, `edgegw status` and the page's overview. It is
// the health message (the same fields, camelCase) plus what only the site sees.
type Status struct {
	protocol.Health
	// Health is "healthy" or "degraded"; Problems say why it is degraded.
	HealthState string   `json:"health"`
	Problems    []string `json:"problems,omitempty"`
	// CloudConfigured is false when [cloud] enabled = false: then the switch cannot turn it on.
	CloudConfigured bool `json:"cloudConfigured"`
	// Ready is what /readyz answers: the store answers and the poll scheduler runs.
	Ready     bool            `json:"ready"`
	Inventory gateway.Summary `json:"inventory"`
	Admin     Listener        `json:"admin"`
	// DegradedAfter is how long the uplink may be down before the gateway is degraded, in seconds.
	DegradedAfterSeconds float64 `json:"degradedAfterSeconds"`
}

// Listener is the admin TCP listener in a Status.
type Listener struct {
	// Listen is the configured address ("" when off); Address the one it listens on.
	Listen  string `json:"listen"`
	Address string `json:"address,omitempty"`
	TLS     bool   `json:"tls"`
	Error   string `json:"error,omitempty"`
}

// Status works out the gateway's status now.
func (s *Server) Status() Status {
	now := s.opts.Now()
	st := Status{Health: s.opts.Health(), CloudConfigured: s.opts.SetCloud != nil,
		Inventory: s.opts.Gateway.Summary(), DegradedAfterSeconds: s.opts.Config.DegradedAfter.Seconds()}
	addr, lerr := s.listenerState()
	st.Admin = Listener{Listen: s.opts.Config.Listen, Address: addr, TLS: s.tls != nil}
	if lerr != nil {
		st.Admin.Error = lerr.Error()
		st.Problems = append(st.Problems, fmt.Sprintf("the admin page does not listen on %s: %v", s.opts.Config.Listen, lerr))
	}
	up := st.Health.Uplink
	if st.CloudConfigured && st.CloudEnabled && up.State != "connected" && !up.Since.IsZero() {
		if down := now.Sub(up.Since); down >= s.opts.Config.DegradedAfter {
			p := "the cloud uplink has been down for " + roundDuration(down)
			if up.LastError != "" {
				p += ": " + up.LastError
			}
			st.Problems = append(st.Problems, p)
		}
	}
	if s.opts.StoreError != nil {
		if err := s.opts.StoreError(); err != nil {
			st.Problems = append(st.Problems, "the state store cannot be written: "+err.Error())
		}
	}
	ready, why := s.ready()
	st.Ready = ready
	if !ready {
		st.Problems = append(st.Problems, why...)
	}
	st.HealthState = Healthy
	if len(st.Problems) > 0 {
		st.HealthState = Degraded
	}
	return st
}

// ready is /readyz: the state store answers and the poll scheduler runs. The uplink is reported, not
// required: a site without its cloud still discovers and polls.
func (s *Server) ready() (bool, []string) {
	var why []string
	if s.opts.CheckStore != nil {
		if err := s.opts.CheckStore(); err != nil {
			why = append(why, "the state store does not answer: "+err.Error())
		}
	}
	if !s.opts.Gateway.Running() {
		why = append(why, "the poll scheduler is not running")
	}
	return len(why) == 0, why
}

// roundDuration prints a duration to the second (to the minute past an hour).
func roundDuration(d time.Duration) string {
	if d >= time.Hour {
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}
