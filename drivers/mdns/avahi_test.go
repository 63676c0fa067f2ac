package mdns

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/neigh"
	"github.com/edgegw/edgegw/internal/peers"
)

// avahiEnv is the peers kit's mDNS pair: avahi in one namespace, the test in the other.
type avahiEnv struct {
	netns, iface, serverNetns, serverIface, serverAddr, services string
}

func needAvahi(t *testing.T) avahiEnv {
	t.Helper()
	v := peers.Need(t, "PEERS_MDNS_NETNS", "PEERS_MDNS_IFACE", "PEERS_MDNS_SERVER_NETNS", "PEERS_MDNS_SERVER_IFACE",
		"PEERS_MDNS_SERVER_ADDR", "PEERS_MDNS_SERVICES_DIR")
	return avahiEnv{v[0], v[1], v[2], v[3], v[4], v[5]}
}

func newTestDriver(t *testing.T, iface string, services ...string) *Driver {
	t.Helper()
	lib, err := profile.Load(nil, profile.Codecs{Protocol: Spec().Profile})
	require.NoError(t, err)
	d, err := New(Options{Services: services, Interface: iface, Timeout: time.Second, Profiles: lib, Neighbors: neigh.Lookup})
	require.NoError(t, err)
	return d
}

func discoverAll(t *testing.T, d *Driver) ([]gateway.Sighting, []gateway.TargetError) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := gateway.Collect(ctx, d)
	require.NoError(t, err)
	return res.Sightings, res.Errors
}

// publish adds an avahi service file for the test's duration; avahi reloads it in about a second.
func publish(t *testing.T, env avahiEnv, file, xml string) {
	t.Helper()
	p := filepath.Join(env.services, file)
	require.NoError(t, os.WriteFile(p, []byte(xml), 0o644))
	t.Cleanup(func() { os.Remove(p) })
}

const secondDisplay = `<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Display 02 PJLink</name>
  <service>
    <type>_pjlink._tcp</type>
    <port>4353</port>
    <txt-record>class=2</txt-record>
    <txt-record>vendor=ACME</txt-record>
  </service>
</service-group>
`

// TestAvahi browses the peers kit's avahi (display-01: _pjlink._tcp with vendor and model, _http._tcp
// with its serial) from inside the client namespace.
func TestAvahi(t *testing.T) {
	env := needAvahi(t)
	if !peers.InNetns(t, env.netns) {
		return
	}
	peers.Lock(t, "avahi-services")
	serverMAC, err := exec.Command("ip", "netns", "exec", env.serverNetns, "cat", "/sys/class/net/"+env.serverIface+"/address").Output()
	require.NoError(t, err)

	d := newTestDriver(t, env.iface, "_pjlink._tcp", "_http._tcp")
	found, failed := discoverAll(t, d)
	require.Empty(t, failed)
	require.Len(t, found, 1, "two services of one host are one sighting: %+v", found)
	s := found[0]
	require.Equal(t, Protocol, s.Protocol)
	require.Equal(t, env.serverAddr, s.Address)
	require.Equal(t, "acme-display-mdns", s.Profile)
	require.Equal(t, gateway.Identity{MAC: strings.TrimSpace(string(serverMAC)), Serial: "SN-DP55-000123", Manufacturer: "ACME",
		Model: "DP55", Hostname: "display-01", IP: env.serverAddr}, s.Identity, "MAC from the neighbour table: TXT has none")

	rs, err := d.Poll(context.Background(), s.Endpoint(), []gateway.Point{{Name: "pjlinkClass", Address: TXTKey("class"), Type: gateway.TypeString},
		{Name: "adminPath", Address: TXTKey("PATH"), Type: gateway.TypeString}, {Name: "gone", Address: TXTKey("nosuchkey"), Type: gateway.TypeString}})
	require.NoError(t, err)
	require.Len(t, rs, 3)
	require.Equal(t, gateway.String("1"), rs[0].Value)
	require.Equal(t, gateway.String("/admin"), rs[1].Value, "keys compare without case")
	require.ErrorContains(t, rs[2].Err, `no longer sends TXT key "nosuchkey"`)

	t.Run("two instances of one type", func(t *testing.T) {
		// hashicorp/mdns returns nothing for avahi's answer to this: two SRVs sharing one A record.
		publish(t, env, "display02.service", secondDisplay)
		require.Eventually(t, func() bool {
			discoverAll(t, d)
			d.mu.Lock()
			defer d.mu.Unlock()
			n := 0
			for _, in := range d.hosts[netip.MustParseAddr(env.serverAddr)] {
				if in.Service == "_pjlink._tcp.local." {
					n++
				}
			}
			return n == 2
		}, 10*time.Second, 200*time.Millisecond)
		os.Remove(filepath.Join(env.services, "display02.service")) // withdrawn: avahi says goodbye
		require.Eventually(t, func() bool {
			discoverAll(t, d)
			d.mu.Lock()
			defer d.mu.Unlock()
			for _, in := range d.hosts[netip.MustParseAddr(env.serverAddr)] {
				if strings.HasPrefix(in.Name, `Display\ 02`) {
					return false
				}
			}
			return true
		}, 10*time.Second, 200*time.Millisecond, "a withdrawn instance ages out")
	})

	t.Run("garbage on 5353", func(t *testing.T) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { flood(t, stop, 400) })
		found, failed := discoverAll(t, d)
		close(stop)
		wg.Wait()
		require.Empty(t, failed)
		require.Len(t, found, 1)
		require.Equal(t, "SN-DP55-000123", found[0].Identity.Serial, "the real answers among the garbage")
	})
}

// flood sends up to n garbage and truncated packets to the mDNS group (in the test's namespace only),
// one every 2 ms, until stop.
func flood(t *testing.T, stop <-chan struct{}, n int) {
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	real, _ := query(nil, false)
	sonosLike := []byte{0, 0, 0x84, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0xC0, 0xFF} // a pointer past the end
	for i := range n {
		var b []byte
		switch i % 4 {
		case 0:
			b = make([]byte, rand.IntN(600))
			for j := range b {
				b[j] = byte(rand.Uint32())
			}
		case 1:
			b = sonosLike
		case 2:
			b = real[:rand.IntN(len(real)+1)]
		case 3:
			b = []byte{0, 0, 0x84, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0} // claims 65535 answers, has none
		}
		c.WriteToUDP(b, group)
		select {
		case <-stop:
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// TestResponderAgesOut: a responder of hashicorp/mdns (a second mDNS implementation nobody here wrote)
// in the client namespace is found and polled; once it stops answering, the poll fails (the device
// goes offline) and the next browse no longer has it. hashicorp's zone compares names unescaped, so an
// instance whose name has a space never answers a direct query: "Meter-7", not "Meter 7".
func TestResponderAgesOut(t *testing.T) {
	env := needAvahi(t)
	if !peers.InNetns(t, env.netns) {
		return
	}
	ifi, err := net.InterfaceByName(env.iface)
	require.NoError(t, err)
	addrs, err := ifi.Addrs()
	require.NoError(t, err)
	var ip net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			ip = n.IP.To4()
		}
	}
	require.NotNil(t, ip)
	svc, err := mdns.NewMDNSService("Meter-7", "_edgegwtest._tcp", "local.", "meter-7.local.", 8080, []net.IP{ip},
		[]string{"serial=HM-7", "mac=02:00:5e:10:00:07", "power=42.5"})
	require.NoError(t, err)
	srv, err := mdns.NewServer(&mdns.Config{Zone: svc, Iface: ifi})
	require.NoError(t, err)
	defer srv.Shutdown()

	d := newTestDriver(t, env.iface, "_edgegwtest._tcp")
	found, _ := discoverAll(t, d)
	require.Len(t, found, 1)
	require.Equal(t, ip.String(), found[0].Address)
	require.Equal(t, "HM-7", found[0].Identity.Serial)
	require.Equal(t, "02:00:5e:10:00:07", found[0].Identity.MAC)
	require.Equal(t, "meter-7", found[0].Identity.Hostname)
	points := []gateway.Point{{Name: "powerWatts", Address: TXTKey("power"), Type: gateway.TypeFloat, Unit: "W"}}
	rs, err := d.Poll(context.Background(), found[0].Endpoint(), points)
	require.NoError(t, err)
	require.Equal(t, 42.5, rs[0].Value.Num)

	srv.Shutdown()
	_, err = d.Poll(context.Background(), found[0].Endpoint(), points)
	require.ErrorContains(t, err, `mdns `+ip.String()+`: no answer from "Meter-7._edgegwtest._tcp.local." within 1s`)
	found, _ = discoverAll(t, d)
	require.Empty(t, found)
}
