package sim

import (
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"
)

// TestSharedSocketServesAPrefix: past SharedAbove devices a prefix site holds one socket, and each
// device still answers from its own address with its own identity.
func TestSharedSocketServesAPrefix(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("shared sockets need Linux")
	}
	n := SharedAbove + 200
	s, err := Start(t.Context(), Options{N: n, Listen: "127.77.0.0/16", BasePort: 0, Seed: 3})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, 1, s.Sockets())
	devs := s.Devices()
	require.Len(t, devs, n)
	require.Equal(t, netip.MustParseAddr("127.77.0.1"), devs[0].Addr.Addr())
	require.Equal(t, netip.MustParseAddr("127.77.4.200"), devs[n-1].Addr.Addr())
	for _, i := range []int{0, 1, 2, 700, n - 1} {
		d := devs[i]
		require.Equal(t, devs[0].Addr.Port(), d.Addr.Port(), "one port for all")
		// gosnmp's connected socket takes only answers from the address it asked: the device's own.
		g := client(t, d.Addr, gosnmp.Version2c, "public")
		res, err := g.Get([]string{oidSysName, oidIfPhys2, oidEntSerial})
		require.NoError(t, err, "device %d", i)
		require.Equal(t, d.Hostname, string(res.Variables[0].Value.([]byte)))
		require.Equal(t, d.MAC, net.HardwareAddr(res.Variables[1].Value.([]byte)).String())
		require.Equal(t, d.Serial, string(res.Variables[2].Value.([]byte)))
	}
	// An address of the prefix past the last device is nobody.
	g := client(t, netip.AddrPortFrom(netip.MustParseAddr("127.77.4.201"), devs[0].Addr.Port()), gosnmp.Version2c, "public")
	g.Timeout, g.Retries = 200e6, 0
	_, err = g.Get([]string{oidSysName})
	require.Error(t, err)
	require.NotZero(t, s.Stats().Dropped)
}

func TestSharedNeedsAPrefix(t *testing.T) {
	_, err := Start(t.Context(), Options{N: 2, Listen: "127.0.0.1", Shared: true})
	require.ErrorContains(t, err, "needs a loopback IPv4 prefix")
}

// TestIdentitiesDistinctAcrossSeeds: several simulators with different seeds (a campus run as several
// processes, or two sites side by side) never give two devices the same MAC or serial.
func TestIdentitiesDistinctAcrossSeeds(t *testing.T) {
	macs := map[uint32]bool{}
	serials := map[uint64]bool{}
	for seed := int64(1); seed <= 4; seed++ {
		for i := range 50_000 {
			m, sn := macLow(seed, i), serialNumber(seed, i)
			require.False(t, macs[m], "seed %d device %d: MAC taken", seed, i)
			require.False(t, serials[sn], "seed %d device %d: serial taken", seed, i)
			macs[m], serials[sn] = true, true
		}
	}
}
