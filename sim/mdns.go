package sim

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strings"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
)

// MDNSOptions configure the simulated site's mDNS responders.
type MDNSOptions struct {
	// Netns is the network namespace (a name under /var/run/netns, as `ip netns add` makes) whose
	// sockets the responders use; required. Responders never start in the host's own namespace:
	// multicast must not reach a real network.
	Netns string
	// Devices are the SNMP devices to announce: every display and projector gets a _pjlink._tcp
	// instance whose TXT carries its vendor, model, serial and MAC, at its SNMP address.
	Devices []Device
	Logger  *slog.Logger
}

// Responders is a running set of mDNS announcements.
type Responders struct {
	srvs      []*mdns.Server
	instances []string
}

// perServer is how many instances one responder answers for: all of them go into one answer to a
// PTR query, which must stay well inside one datagram (16 instances are about 2.5 KB).
const perServer = 16

// PJLinkService is the service type the simulated displays and projectors announce.
const PJLinkService = "_pjlink._tcp"

// StartMDNS starts one hashicorp/mdns responder, inside opts.Netns, that answers for every display and
// projector of opts.Devices. hashicorp/mdns's zone compares query names unescaped, so instance names
// are the devices' host names (no spaces), and its server answers every query by unicast to the
// asker, which any DNS-SD browser accepts.
func StartMDNS(opts MDNSOptions) (*Responders, error) {
	if opts.Netns == "" {
		return nil, errors.New("sim: mDNS responders need a network namespace made for them (--mdns-netns): multicast must not reach a real network")
	}
	var zone multiZone
	r := &Responders{}
	for _, d := range opts.Devices {
		class := map[string]string{"display": "1", "projector": "2"}[d.Kind]
		if class == "" {
			continue
		}
		svc, err := mdns.NewMDNSService(d.Hostname, PJLinkService, "local.", d.Hostname+".local.", 4352,
			[]net.IP{net.IP(d.Addr.Addr().AsSlice())},
			[]string{"class=" + class, "vendor=" + d.Manufacturer, "model=" + d.Model, "serial=" + d.Serial, "mac=" + d.MAC})
		if err != nil {
			return nil, fmt.Errorf("sim: mDNS service for %s: %w", d.Hostname, err)
		}
		zone = append(zone, svc)
		r.instances = append(r.instances, d.Hostname+"."+PJLinkService+".local.")
	}
	if len(zone) == 0 {
		return nil, errors.New("sim: no display or projector to announce over mDNS")
	}
	err := inNetns(opts.Netns, func() error {
		// Servers make their sockets here, on this thread, so they belong to the namespace. Several
		// share port 5353 (SO_REUSEADDR); each hears every query and answers for its own instances.
		for i := 0; i < len(zone); i += perServer {
			srv, err := mdns.NewServer(&mdns.Config{Zone: zone[i:min(i+perServer, len(zone))], Logger: log.New(io.Discard, "", 0)})
			if err != nil {
				return err
			}
			r.srvs = append(r.srvs, srv)
		}
		return nil
	})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("sim: mDNS responders in netns %s: %w", opts.Netns, err)
	}
	if opts.Logger != nil {
		opts.Logger.Info("mdns responders started", "netns", opts.Netns, "instances", len(r.instances))
	}
	return r, nil
}

// Instances lists the announced instance names.
func (r *Responders) Instances() []string { return r.instances }

// Close stops the responders. It is idempotent.
func (r *Responders) Close() error {
	for _, s := range r.srvs {
		s.Shutdown()
	}
	return nil
}

// multiZone answers for several services: a PTR query for the type lists every instance, with their
// SRV, TXT and A records, in one answer, as a real responder with several instances does.
type multiZone []*mdns.MDNSService

func (z multiZone) Records(q dns.Question) []dns.RR {
	q.Name = strings.ToLower(q.Name)
	var out []dns.RR
	for _, s := range z {
		out = append(out, s.Records(q)...)
	}
	return out
}
