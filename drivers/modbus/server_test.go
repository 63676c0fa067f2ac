package modbus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
)

func library(t testing.TB) *profile.Library {
	t.Helper()
	lib, err := profile.Load(nil, profile.Codecs{Protocol: Spec().Profile})
	require.NoError(t, err)
	return lib
}

func newDriver(t *testing.T, tables ...Table) *Driver {
	t.Helper()
	d, err := New(Options{Tables: tables, Profiles: library(t)})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

func tcpTarget(t *testing.T, addr string) gateway.Target {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return gateway.Target{Host: host, Port: uint16(p)}
}

func discover(t *testing.T, d *Driver) ([]gateway.Sighting, []gateway.TargetError) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := gateway.Collect(ctx, d)
	require.NoError(t, err)
	return res.Sightings, res.Errors
}

func poll(t *testing.T, d *Driver, ep gateway.Endpoint, points []gateway.Point) map[string]gateway.Reading {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := d.Poll(ctx, ep, points)
	require.NoError(t, err)
	out := map[string]gateway.Reading{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

// proxy stands between the driver and a server and misbehaves on request: it counts connections and
// can close a connection on a request, hold a reply back, or answer an exception itself. It is the
// way to show what no real server here does on cue (pymodbus never says "device busy").
type proxy struct {
	addr     string
	upstream string
	l        net.Listener

	conns, open, maxOpen, requests atomic.Int64
	// mode for the next requests: "" pass, "close" close the connection on the next request,
	// "close-always", "busy" answer exception 06 once, "busy-always", "delay" hold replies for delayBy.
	mu      sync.Mutex
	mode    string
	delayBy time.Duration
	wg      sync.WaitGroup
}

func newProxy(t testing.TB, upstream string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{addr: l.Addr().String(), upstream: upstream, l: l}
	p.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

func (p *proxy) set(mode string) {
	p.mu.Lock()
	p.mode = mode
	p.mu.Unlock()
}

// take returns the mode for one request, clearing one-shot modes.
func (p *proxy) take() (string, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.mode
	switch m {
	case "close", "busy":
		p.mode = ""
	}
	return m, p.delayBy
}

func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	p.conns.Add(1)
	n := p.open.Add(1)
	defer p.open.Add(-1)
	for {
		m := p.maxOpen.Load()
		if n <= m || p.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	r, ur := bufio.NewReader(c), bufio.NewReader(up)
	for {
		req, err := readADU(r)
		if err != nil {
			return
		}
		p.requests.Add(1)
		mode, delay := p.take()
		switch mode {
		case "close", "close-always":
			return // mid-request: the request arrived, no reply ever comes
		case "busy", "busy-always":
			ex := append([]byte{}, req[:8]...)
			ex[5] = 3 // length: unit + function + code
			ex[7] |= 0x80
			if _, err := c.Write(append(ex, ExDeviceBusy)); err != nil {
				return
			}
			continue
		}
		if _, err := up.Write(req); err != nil {
			return
		}
		resp, err := readADU(ur)
		if err != nil {
			return
		}
		if mode == "delay" {
			time.Sleep(delay)
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// readADU reads one Modbus TCP frame: the 7-byte MBAP header, then length-1 bytes.
func readADU(r *bufio.Reader) ([]byte, error) {
	h := make([]byte, 7)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, err
	}
	n := int(h[4])<<8 | int(h[5])
	if n < 2 || n > 254 {
		return nil, fmt.Errorf("bad length %d", n)
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(h, body...), nil
}

func listenTCP() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func startServer(t *testing.T, o peers.ModbusOptions) *peers.ModbusServer {
	return peers.StartModbus(t, o)
}
func freePort(t *testing.T) int { return peers.FreePort(t) }
