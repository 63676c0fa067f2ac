//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/uplink/protocol"
)

// proc is a process the benchmark started: stopped by its PID, waited for, its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start runs bin with args, output to dir/name.log. ready, when set, must appear in the output before
// start returns (within limit).
func start(ctx context.Context, dir, name, bin string, args []string, env []string, ready string, limit time.Duration) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	if ready == "" {
		return p, nil
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), ready) {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready: %v\n%s", name, p.err, tail(logPath, 10))
		case <-ctx.Done():
			p.stop(5 * time.Second)
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.stop(5 * time.Second)
	return nil, fmt.Errorf("%s not ready after %s:\n%s", name, limit, tail(logPath, 10))
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM (SIGINT for those that print on it), waits up to grace, then kills.
func (p *proc) stopWith(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s: killed", p.name, grace)
	}
}

func (p *proc) stop(grace time.Duration) error { return p.stopWith(syscall.SIGTERM, grace) }

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cpuTicks is the process's user+system CPU time from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	// Fields after the name: state is f[0]; utime and stime are the 14th and 15th fields of the line.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad stat")
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// memKiB reads VmRSS and VmHWM (peak) of a process.
func memKiB(pid int) (rss, peak int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			peak = n
		}
	}
	return rss, peak
}

// health is what the benchmark reads from the daemon's admin socket (GET /api/status answers the
// health message and more).
type health = protocol.Health

// status reads the daemon's status. The connection is not kept: waitFor asks every 50 ms, and idle
// connections left in the daemon would count in the memory the benchmark measures.
func status(stateDir string) (health, error) {
	sock := filepath.Join(stateDir, "admin.sock")
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Get("http://edgegw/api/status")
	if err != nil {
		return health{}, err
	}
	defer resp.Body.Close()
	var h health
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// waitFor polls the daemon's status until cond holds, the daemon exits, or limit passes.
func waitFor(ctx context.Context, d *proc, stateDir string, limit time.Duration, what string, cond func(health) bool) (health, error) {
	deadline := time.Now().Add(limit)
	var last health
	for {
		if h, err := status(stateDir); err == nil {
			last = h
			if cond(h) {
				return h, nil
			}
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("%s: not after %s (last status: %d discovered, %d claimed, %d polls)", what, limit,
				last.Devices.Discovered, last.Devices.Claimed, last.Polls)
		}
		select {
		case <-d.done:
			return last, fmt.Errorf("%s: the daemon exited: %v\n%s", what, d.err, tail(d.log, 15))
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
