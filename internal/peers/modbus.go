package peers

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModbusServer is a pymodbus server of a test's own (scripts/peers/modbus_server.py), so that each
// test has the register map and identity it needs without restarting the shared one.
type ModbusServer struct {
	Addr string // 127.0.0.1:port
	RTU  string // the client end of the pty pair, when started with RTU
	Log  string
}

// ModbusOptions say what a ModbusServer serves. Zero values are the script's defaults (the built-in
// map hr[i]=1000+i, identity ACME/DP55/4.2.1, no RTU).
type ModbusOptions struct {
	Regs            []string // .regs files
	Vendor, Product string   // function 43/14 objects 0 and 1
	Revision        string   // object 2
	RTU             bool     // also serve RTU on a socat pty pair
	Baud            int      // RTU baud rate; zero means 19200
}

// StartModbus runs scripts/peers/modbus_server.py with Debian's python3 on a free loopback port and
// stops it (by PID) when the test ends. Without python3-pymodbus the test skips, or fails as Need does.
func StartModbus(t testing.TB, o ModbusOptions) *ModbusServer {
	t.Helper()
	v := []string{pymodbusPython(t), filepath.Join(Kit(), "modbus_server.py")}
	port := FreePort(t)
	dir := t.TempDir()
	args := []string{v[1], "--host", "127.0.0.1", "--port", strconv.Itoa(port)}
	for _, r := range o.Regs {
		args = append(args, "--regs", r)
	}
	for flag, val := range map[string]string{"--vendor": o.Vendor, "--product": o.Product, "--revision": o.Revision} {
		if val != "" {
			args = append(args, flag, val)
		}
	}
	s := &ModbusServer{Addr: "127.0.0.1:" + strconv.Itoa(port), Log: filepath.Join(dir, "modbus.log")}
	if o.RTU {
		srv, cli := ptyPair(t, dir)
		s.RTU = cli
		args = append(args, "--rtu", srv, "--baud", strconv.Itoa(max(o.Baud, 1200)))
		if o.Baud == 0 {
			args[len(args)-1] = "19200"
		}
	}
	logf, err := os.Create(s.Log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(v[0], args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pymodbus: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.Log)
			t.Fatalf("pymodbus did not start on %s: %s", s.Addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o.RTU {
		time.Sleep(300 * time.Millisecond) // the serial server starts after the TCP one
	}
	return s
}

// pymodbusPython is Debian's python3, which has python3-pymodbus (a python3 earlier on PATH may not).
func pymodbusPython(t testing.TB) string {
	t.Helper()
	const py = "/usr/bin/python3"
	pymodbusOnce.Do(func() { pymodbusErr = exec.Command(py, "-c", "import pymodbus").Run() })
	if pymodbusErr != nil {
		msg := "python3-pymodbus is not installed (scripts/peers/peers.sh install installs it): " + pymodbusErr.Error()
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

var (
	pymodbusOnce sync.Once
	pymodbusErr  error
)

// ptyPair makes a socat pty pair in dir: the server end and the client end.
func ptyPair(t testing.TB, dir string) (srv, cli string) {
	t.Helper()
	bin, err := exec.LookPath("socat")
	if err != nil {
		if InCI() {
			t.Fatal("socat is not installed (scripts/peers/peers.sh install installs it)")
		}
		t.Skip("socat is not installed")
	}
	srv, cli = filepath.Join(dir, "rtu-server"), filepath.Join(dir, "rtu-client")
	cmd := exec.Command(bin, "pty,raw,echo=0,link="+srv, "pty,raw,echo=0,link="+cli)
	if err := cmd.Start(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		_, err1 := os.Stat(cli)
		_, err2 := os.Stat(srv)
		if err1 == nil && err2 == nil {
			return srv, cli
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("socat made no pty pair")
	return
}

// FreePort returns a TCP port nobody listens on at 127.0.0.1 right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WriteRegs writes a .regs file (modbus_server.py's format): for each kind ("hr", "ir"), runs of words by
// first address.
func WriteRegs(t testing.TB, blocks map[string]map[uint16][]uint16) string {
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
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
