package modbus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
)

// server is a pymodbus server of the test's own (the peers kit's modbus_server.py), so that each test
// has the register map and identity it needs without restarting the shared one.
type server struct {
	addr string // 127.0.0.1:port
	rtu  string // client end of the pty pair, when started with rtu
	log  string
}

type serverOpts struct {
	regs            []string // .regs files
	vendor, product string
	rtu             bool
	baud            int
}

// startServer runs `$PEERS_PYTHON $PEERS_MODBUS_SERVER` on a free loopback port and stops it (by PID)
// when the test ends.
func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	v := peers.Need(t, "PEERS_PYTHON", "PEERS_MODBUS_SERVER")
	port := freePort(t)
	dir := t.TempDir()
	args := []string{v[1], "--host", "127.0.0.1", "--port", strconv.Itoa(port)}
	for _, r := range o.regs {
		args = append(args, "--regs", r)
	}
	if o.vendor != "" {
		args = append(args, "--vendor", o.vendor)
	}
	if o.product != "" {
		args = append(args, "--product", o.product)
	}
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(dir, "modbus.log")}
	if o.rtu {
		srv, cli := ptyPair(t, dir)
		s.rtu = cli
		args = append(args, "--rtu", srv, "--baud", strconv.Itoa(o.baud))
	}
	logf, err := os.Create(s.log)
	require.NoError(t, err)
	cmd := exec.Command(v[0], args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.log)
			t.Fatalf("pymodbus did not start on %s: %s", s.addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o.rtu {
		time.Sleep(300 * time.Millisecond) // the serial server starts after the TCP one
	}
	return s
}

// ptyPair makes a socat pty pair in dir: the server end and the client end.
func ptyPair(t *testing.T, dir string) (srv, cli string) {
	t.Helper()
	bin, err := exec.LookPath("socat")
	if err != nil {
		if peers.InCI() {
			t.Fatal("socat is not installed (../shared/peers/install.sh installs it)")
		}
		t.Skip("socat is not installed")
	}
	srv, cli = filepath.Join(dir, "rtu-server"), filepath.Join(dir, "rtu-client")
	cmd := exec.Command(bin, "pty,raw,echo=0,link="+srv, "pty,raw,echo=0,link="+cli)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if _, err := os.Stat(cli); err == nil {
			if _, err := os.Stat(srv); err == nil {
				return srv, cli
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("socat made no pty pair")
	return
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeRegs writes a .regs file (the peers kit's format) with words from address first of kind ("hr",
// "ir").
func writeRegs(t *testing.T, blocks map[string]map[uint16][]uint16) string {
	t.Helper()
	var b strings.Builder
	for kind, starts := range blocks {
		for first, words := range starts {
			fmt.Fprintf(&b, "@%s %d\n", kind, first)
			for i, w := range words {
				fmt.Fprintf(&b, "%04X", w)
				if i%10 == 9 {
					b.WriteByte('\n')
				} else {
					b.WriteByte(' ')
				}
			}
			b.WriteByte('\n')
		}
	}
	p := filepath.Join(t.TempDir(), "test.regs")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

func library(t *testing.T) *profile.Library {
	t.Helper()
	lib, err := profile.Load(nil)
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
	var mu sync.Mutex
	var found []gateway.Sighting
	var failed []gateway.TargetError
	require.NoError(t, d.Discover(ctx, func(s gateway.Sighting) {
		mu.Lock()
		found = append(found, s)
		mu.Unlock()
	}, func(e gateway.TargetError) {
		mu.Lock()
		failed = append(failed, e)
		mu.Unlock()
	}))
	return found, failed
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

	conns, open, maxOpen atomic.Int64
	// mode for the next requests: "" pass, "close" close the connection on the next request,
	// "close-always", "busy" answer exception 06 once, "busy-always", "delay" hold replies for delayBy.
	mu      sync.Mutex
	mode    string
	delayBy time.Duration
	wg      sync.WaitGroup
}

func newProxy(t *testing.T, upstream string) *proxy {
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
