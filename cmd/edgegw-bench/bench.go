//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Loopback only: the campus lives on 127.77.0.0/16, the sweep's site on 127.78.0.0/16, at ports no
// peer and no demo uses.
const (
	campusBase = "127.77.0.0"
	campusPort = 16163
	sweepNet   = "127.78.0.0/16"
	sweepPort  = 16164
	sweepLive  = 2000
)

type bench struct {
	o options
	// run names this run's queues: a queue left over from an earlier run (stopped, or a daemon of the
	// same size run by hand) must not count here.
	run   string
	log   io.Writer
	dir   string
	bin   func(string) string
	peers map[string]string
	procs []*proc
}

func newBench(ctx context.Context, o options, log io.Writer) (*bench, error) {
	dir, err := os.MkdirTemp("", "edgegw-bench-")
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, run: strconv.FormatInt(time.Now().Unix(), 36), log: log, dir: dir, bin: func(n string) string { return filepath.Join(abs, n) }, peers: readPeers()}
	for _, n := range []string{"edgegw", "edgegw-sim", "edgegw-console"} {
		if _, err := os.Stat(b.bin(n)); err != nil {
			return nil, fmt.Errorf("%s missing (make build first): %w", b.bin(n), err)
		}
	}
	return b, nil
}

func (b *bench) cleanup() {
	for _, p := range b.procs {
		p.stop(10 * time.Second)
	}
	if b.o.keep {
		fmt.Fprintf(b.log, "kept %s\n", b.dir)
		return
	}
	os.RemoveAll(b.dir)
}

func (b *bench) say(format string, a ...any) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func (b *bench) start(ctx context.Context, name, bin string, args []string, env []string, ready string, limit time.Duration) (*proc, error) {
	p, err := start(ctx, b.dir, name, bin, args, env, ready, limit)
	if err == nil {
		b.procs = append(b.procs, p)
	}
	return p, err
}

// readPeers reads scripts/peers' peers.env, for RabbitMQ.
func readPeers() map[string]string {
	dir := os.Getenv("PEERS_STATE")
	if dir == "" {
		dir = "/tmp/edgegw-peers"
	}
	out := map[string]string{}
	f, err := os.Open(filepath.Join(dir, "peers.env"))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[k] = v
		}
	}
	return out
}

func (b *bench) broker() bool {
	return b.peers["PEERS_AMQPS_URL"] != "" && b.peers["PEERS_CLIENT_CERT"] != ""
}

// results is everything one run measured.
type results struct {
	o        options
	started  time.Time
	elapsed  time.Duration
	machine  machine
	sizes    []sizeResult
	sweep    *sweepResult
	uplink   []string // BenchmarkUplinkRabbitMQ's lines
	telegraf *loopResult
	notes    []string
}

type sizeResult struct {
	n          int
	discover   time.Duration // start to every device discovered
	importTime time.Duration
	importOut  string
	off, on    *runResult
	bare       *loopResult
	startup    time.Duration // restart with the twins in the store to first poll
	startupRSS int64
	err        string
}

type runResult struct {
	cpuPerPoll     float64 // ms
	polls, late    int
	errors         int
	pollsPerSecond float64
	rssKiB, peak   int64
	messages       int // cloud on: drained and counted
	readings       int // device polls among them (telemetry-batch readings counted one each)
	duplicates     int
	kinds          map[string]int
	outboxPending  int
	window         time.Duration
	load           string // 1-minute load average at the window's start and end
}

type loopResult struct {
	load       string
	cpuPerPoll float64
	onTime     float64
	polls      int
	failed     int
	peakKiB    int64
}

type sweepResult struct {
	load    string
	elapsed time.Duration
	summary string
	err     string
}

func (b *bench) all(ctx context.Context) (*results, error) {
	r := &results{o: b.o, started: time.Now(), machine: readMachine()}
	b.say("machine: %s; load %s", r.machine.cpu, r.machine.loadStart)
	if !b.broker() {
		r.notes = append(r.notes, "no broker (scripts/peers RabbitMQ not running): the cloud-on runs were skipped")
	}
	for _, n := range b.o.sizes {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		sr := b.size(ctx, n)
		r.sizes = append(r.sizes, sr)
		if sr.err != "" {
			b.say("%d devices: %s", n, sr.err)
		}
	}
	if b.o.parts["sweep"] {
		r.sweep = b.sweep(ctx)
	}
	if b.o.parts["uplink"] && b.broker() {
		r.uplink = b.uplinkBench(ctx)
	}
	if bin := os.Getenv("TELEGRAF_BIN"); bin != "" && b.o.parts["telegraf"] {
		r.telegraf = b.telegraf(ctx, bin)
	} else {
		r.notes = append(r.notes, "TELEGRAF_BIN not set: no Telegraf baseline in this run")
	}
	r.elapsed = time.Since(r.started)
	r.machine.loadEnd = loadavg()
	return r, nil
}

// prefixFor is the smallest prefix of the campus network holding n devices.
func prefixFor(n int) string {
	hostBits := bits.Len(uint(n + 1))
	return fmt.Sprintf("%s/%d", campusBase, 32-max(hostBits, 2))
}

func (b *bench) daemonConfig(name string, n int, stateDir string, cloud bool) (string, error) {
	var c strings.Builder
	fmt.Fprintf(&c, `[gateway]
id = "bench-%d"
state_dir = %q
[discovery]
interval = "24h"
concurrency = 64
[[discovery.snmp]]
targets = [%q]
port = %d
timeout = "2s"
retries = 1
[polling]
interval = %q
[log]
level = "warn"
format = "text"
[admin]
listen = ""
`, n, stateDir, prefixFor(n), campusPort, b.o.interval.String())
	if cloud {
		p := b.peers
		fmt.Fprintf(&c, `[cloud]
enabled = true
url = %q
ca_file = %q
cert_file = %q
key_file = %q
up_address = "/queue/edgegw-bench-up-%d-%s"
down_address = "/queue/edgegw-bench-down-%d-%s"
health_interval = "60s"
telemetry_batch = "1s"
`, p["PEERS_AMQPS_URL"], p["PEERS_CA"], p["PEERS_CLIENT_CERT"], p["PEERS_CLIENT_KEY"], n, b.run, n, b.run)
	}
	path := filepath.Join(b.dir, name+".toml")
	return path, os.WriteFile(path, []byte(c.String()), 0o600)
}

// size runs the daemon at n devices: cloud off (discovery, claim import, polling), then restarted
// with the twins in the store and the cloud on.
func (b *bench) size(ctx context.Context, n int) sizeResult {
	sr := sizeResult{n: n}
	fail := func(err error) sizeResult { sr.err = err.Error(); return sr }
	csvPath := filepath.Join(b.dir, fmt.Sprintf("devices-%d.csv", n))
	b.say("%d devices: starting the simulator", n)
	sim, err := b.start(ctx, fmt.Sprintf("sim-%d", n), b.bin("edgegw-sim"), []string{"--snmp", strconv.Itoa(n),
		"--listen", campusBase + "/16", "--base-port", strconv.Itoa(campusPort), "--v3-user", "", "--seed", strconv.Itoa(n%100 + 1),
		"--devices-csv", csvPath}, nil, "ready;", time.Minute)
	if err != nil {
		return fail(err)
	}
	defer sim.stop(10 * time.Second)
	state := filepath.Join(b.dir, fmt.Sprintf("state-%d", n))
	cfgOff, err := b.daemonConfig(fmt.Sprintf("off-%d", n), n, state, false)
	if err != nil {
		return fail(err)
	}
	if b.o.parts["daemon"] {
		t0 := time.Now()
		d, err := b.start(ctx, fmt.Sprintf("daemon-off-%d", n), b.bin("edgegw"), []string{"run", "--config", cfgOff}, nil, "", 0)
		if err != nil {
			return fail(err)
		}
		if _, err := waitFor(ctx, d, state, 10*time.Minute, "discover every device", func(h health) bool { return h.Devices.Discovered >= n }); err != nil {
			d.stop(10 * time.Second)
			return fail(err)
		}
		sr.discover = time.Since(t0)
		b.say("%d devices: discovered in %s; importing the claim CSV", n, sr.discover.Round(100*time.Millisecond))
		t1 := time.Now()
		out, err := exec.CommandContext(ctx, b.bin("edgegw"), "claim", "import", csvPath, "--config", cfgOff).CombinedOutput()
		sr.importTime = time.Since(t1)
		sr.importOut = lastLine(string(out))
		if err != nil {
			sr.importOut = fmt.Sprintf("failed after %s: %v: %s", sr.importTime.Round(100*time.Millisecond), err, lastLine(string(out)))
		}
		b.say("%d devices: import took %s: %s", n, sr.importTime.Round(100*time.Millisecond), sr.importOut)
		if _, err := waitFor(ctx, d, state, 5*time.Minute, "every device claimed", func(h health) bool { return h.Devices.Claimed >= n }); err != nil {
			d.stop(10 * time.Second)
			return fail(err)
		}
		sr.off, err = b.measure(ctx, d, state, n, nil)
		d.stop(30 * time.Second)
		if err != nil {
			return fail(err)
		}
		b.say("%d devices, cloud off: %.3f CPU-ms/poll, %d polls, %d late, peak %d MiB", n, sr.off.cpuPerPoll, sr.off.polls, sr.off.late, sr.off.peak/1024)

		// Restart with the twins in the store: start-up to first poll, then the cloud on if there is a broker.
		cloud := b.broker()
		cfgOn, err := b.daemonConfig(fmt.Sprintf("on-%d", n), n, state, cloud)
		if err != nil {
			return fail(err)
		}
		var console *proc
		if cloud {
			p := b.peers
			cc := filepath.Join(b.dir, fmt.Sprintf("console-%d.toml", n))
			if err := os.WriteFile(cc, []byte(fmt.Sprintf("[cloud]\nurl = %q\nca_file = %q\ncert_file = %q\nkey_file = %q\nup_address = \"/queue/edgegw-bench-up-%d-%s\"\ndown_address = \"/queue/edgegw-bench-down-%d-%s\"\n",
				p["PEERS_AMQPS_URL"], p["PEERS_CA"], p["PEERS_CLIENT_CERT"], p["PEERS_CLIENT_KEY"], n, b.run, n, b.run)), 0o600); err != nil {
				return fail(err)
			}
			console, err = b.start(ctx, fmt.Sprintf("console-%d", n), b.bin("edgegw-console"), []string{"--config", cc, "count",
				"--gateway", fmt.Sprintf("bench-%d", n), "--timeout", "10m", "--json"}, nil, "", 0)
			if err != nil {
				return fail(err)
			}
		}
		t2 := time.Now()
		d, err = b.start(ctx, fmt.Sprintf("daemon-on-%d", n), b.bin("edgegw"), []string{"run", "--config", cfgOn}, nil, "", 0)
		if err != nil {
			return fail(err)
		}
		if _, err := waitFor(ctx, d, state, 2*time.Minute, "first poll after restart", func(h health) bool { return h.Polls > 0 }); err != nil {
			d.stop(10 * time.Second)
			return fail(err)
		}
		sr.startup = time.Since(t2)
		_, sr.startupRSS = memKiB(d.pid())
		b.say("%d devices: restart to first poll %s", n, sr.startup.Round(10*time.Millisecond))
		if cloud {
			// The pass at start re-identifies every device: measure polling after it.
			if _, err := waitFor(ctx, d, state, 10*time.Minute, "the discovery pass after restart", func(h health) bool { return h.DiscoveryPass > 0 }); err != nil {
				d.stop(10 * time.Second)
				return fail(err)
			}
			sr.on, err = b.measure(ctx, d, state, n, console)
		}
		d.stop(30 * time.Second)
		if console != nil {
			console.stopWith(syscall.SIGINT, 10*time.Second)
			if sr.on != nil {
				readTally(console.log, sr.on)
			}
		}
		if err != nil {
			return fail(err)
		}
		if sr.on != nil {
			b.say("%d devices, cloud on: %.3f CPU-ms/poll, %d messages drained", n, sr.on.cpuPerPoll, sr.on.messages)
		}
	}
	if b.o.parts["bare"] {
		sr.bare = b.bareLoop(ctx, csvPath)
	}
	return sr
}

// measure waits one interval (every device polled once since the claims or the start), then measures
// over the window.
func (b *bench) measure(ctx context.Context, d *proc, state string, n int, console *proc) (*runResult, error) {
	if err := sleepWatching(ctx, d, b.o.interval); err != nil {
		return nil, err
	}
	h0, err := status(state)
	if err != nil {
		return nil, err
	}
	c0, err := cpuTime(d.pid())
	if err != nil {
		return nil, err
	}
	load0 := load1()
	t0 := time.Now()
	if err := sleepWatching(ctx, d, b.o.window); err != nil {
		return nil, err
	}
	c1, err := cpuTime(d.pid())
	if err != nil {
		return nil, err
	}
	h1, err := status(state)
	if err != nil {
		return nil, err
	}
	el := time.Since(t0)
	r := &runResult{polls: h1.Polls - h0.Polls, late: h1.PollsLate - h0.PollsLate, errors: h1.PollErrors - h0.PollErrors,
		window: el, outboxPending: h1.Outbox.Pending, load: load0 + "→" + load1()}
	r.rssKiB, r.peak = memKiB(d.pid())
	if r.polls > 0 {
		r.cpuPerPoll = float64((c1 - c0).Microseconds()) / 1000 / float64(r.polls)
		r.pollsPerSecond = float64(r.polls) / el.Seconds()
	}
	return r, nil
}

// sleepWatching waits for d, failing if the daemon exits meanwhile or ctx ends.
func sleepWatching(ctx context.Context, p *proc, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return fmt.Errorf("daemon exited: %v\n%s", p.err, tail(p.log, 15))
	}
}

// readTally reads edgegw-console count's JSON line from its log.
func readTally(logPath string, r *runResult) {
	b, _ := os.ReadFile(logPath)
	for _, line := range strings.Split(string(b), "\n") {
		var t struct {
			Unique     int            `json:"unique"`
			Duplicates int            `json:"duplicates"`
			Readings   int            `json:"readings"`
			Kinds      map[string]int `json:"kinds"`
		}
		if json.Unmarshal([]byte(line), &t) == nil && t.Kinds != nil {
			r.messages, r.duplicates, r.kinds, r.readings = t.Unique, t.Duplicates, t.Kinds, t.Readings
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

var metricRE = regexp.MustCompile(`([0-9.e+-]+) (cpu-ms/poll|ontime-%|polls|failed|msgs/s)`)

// bareLoop runs BenchmarkBareLoop against the simulator's devices.
func (b *bench) bareLoop(ctx context.Context, csvPath string) *loopResult {
	test := filepath.Join(b.dir, "snmp.test")
	if _, err := os.Stat(test); err != nil {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(bctx, "go", "test", "-c", "-tags", "gosnmp_nodebug", "-o", test, "./drivers/snmp/").CombinedOutput()
		cancel()
		if err != nil {
			b.say("bare loop: build: %v: %s", err, out)
			return nil
		}
	}
	b.say("bare gosnmp loop on the same devices")
	load0 := load1()
	// The loop runs one interval to warm up and then the window; the rest is slack for a loaded machine.
	rctx, cancel := context.WithTimeout(ctx, b.o.interval+b.o.window+5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, test, "-test.run", "^$", "-test.bench", "BenchmarkBareLoop", "-test.benchtime", "1x")
	cmd.Env = append(os.Environ(), "EDGEGW_BENCH_CSV="+csvPath, "EDGEGW_BENCH_INTERVAL="+b.o.interval.String(),
		"EDGEGW_BENCH_WINDOW="+b.o.window.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.say("bare loop: %v: %s", err, out)
		return nil
	}
	r := &loopResult{load: load0 + "→" + load1()}
	for _, m := range metricRE.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		switch m[2] {
		case "cpu-ms/poll":
			r.cpuPerPoll = v
		case "ontime-%":
			r.onTime = v
		case "polls":
			r.polls = int(v)
		case "failed":
			r.failed = int(v)
		}
	}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.peakKiB = ru.Maxrss
		}
	}
	return r
}

// sweep times `edgegw discover` over a /16 holding sweepLive simulated devices, at default settings.
func (b *bench) sweep(ctx context.Context) *sweepResult {
	r := &sweepResult{}
	b.say("sweep: a /16 with %d devices", sweepLive)
	sim, err := b.start(ctx, "sim-sweep", b.bin("edgegw-sim"), []string{"--snmp", strconv.Itoa(sweepLive), "--listen", sweepNet,
		"--base-port", strconv.Itoa(sweepPort), "--v3-user", "", "--seed", "77"}, nil, "ready;", time.Minute)
	if err != nil {
		r.err = err.Error()
		return r
	}
	defer sim.stop(10 * time.Second)
	cfg := filepath.Join(b.dir, "sweep.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[gateway]\nid = \"sweep\"\nstate_dir = %q\n[[discovery.snmp]]\ntargets = [%q]\nport = %d\n",
		filepath.Join(b.dir, "state-sweep"), sweepNet, sweepPort)), 0o600); err != nil {
		r.err = err.Error()
		return r
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	load0 := load1()
	out, err := exec.CommandContext(cctx, b.bin("edgegw"), "discover", "--config", cfg, "--json").CombinedOutput()
	r.elapsed = time.Since(t0)
	r.load = load0 + "→" + load1()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "swept ") {
			r.summary = line
		}
	}
	if err != nil {
		r.err = fmt.Sprintf("%v: %s", err, lastLine(string(out)))
	}
	b.say("sweep: %s (%s)", r.elapsed.Round(100*time.Millisecond), r.summary)
	return r
}

// uplinkBench runs the existing uplink benchmark: the bare go-amqp sender and edgegw's uplink.
func (b *bench) uplinkBench(ctx context.Context) []string {
	b.say("uplink msg/s beside a bare go-amqp sender")
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, "go", "test", "-run", "^$", "-bench", "BenchmarkUplinkRabbitMQ", "-benchtime", "5000x",
		"-count", "1", "./uplink/").CombinedOutput()
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "msgs/s") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	if err != nil {
		lines = append(lines, fmt.Sprintf("failed: %v: %s", err, lastLine(string(out))))
	}
	return lines
}

// telegraf runs Telegraf's inputs.snmp on the first 1,000 displays' nine display OIDs, as the issue's
// baseline: CPU per poll from /proc over the same window.
func (b *bench) telegraf(ctx context.Context, bin string) *loopResult {
	const n = 1000
	b.say("telegraf: %d displays", n)
	csvPath := filepath.Join(b.dir, "devices-telegraf.csv")
	sim, err := b.start(ctx, "sim-telegraf", b.bin("edgegw-sim"), []string{"--snmp", strconv.Itoa(3 * n), "--listen", campusBase + "/16",
		"--base-port", strconv.Itoa(campusPort), "--v3-user", "", "--devices-csv", csvPath}, nil, "ready;", time.Minute)
	if err != nil {
		b.say("telegraf: %v", err)
		return nil
	}
	defer sim.stop(10 * time.Second)
	raw, _ := os.ReadFile(csvPath)
	var agents []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 4 && f[3] == "DP55" && len(agents) < n {
			agents = append(agents, fmt.Sprintf("%q", "udp://"+f[2]))
		}
	}
	var c strings.Builder
	fmt.Fprintf(&c, "[agent]\ninterval = %q\nflush_interval = %q\nomit_hostname = true\n[[outputs.discard]]\n[[inputs.snmp]]\nagents = [%s]\nversion = 2\ncommunity = \"public\"\ntimeout = \"2s\"\nretries = 1\n",
		b.o.interval.String(), b.o.interval.String(), strings.Join(agents, ","))
	for i, oid := range []string{".1.3.6.1.2.1.1.3.0", ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.6.0", ".1.3.6.1.2.1.1.4.0",
		".1.3.6.1.4.1.99999.1.1.1.0", ".1.3.6.1.4.1.99999.1.1.2.0", ".1.3.6.1.4.1.99999.1.1.3.0", ".1.3.6.1.4.1.99999.1.1.4.0",
		".1.3.6.1.2.1.2.2.1.5.2"} {
		fmt.Fprintf(&c, "[[inputs.snmp.field]]\nname = \"f%d\"\noid = %q\n", i, oid)
	}
	cfg := filepath.Join(b.dir, "telegraf.conf")
	if err := os.WriteFile(cfg, []byte(c.String()), 0o600); err != nil {
		b.say("telegraf: %v", err)
		return nil
	}
	t, err := b.start(ctx, "telegraf", bin, []string{"--config", cfg}, nil, "", 0)
	if err != nil {
		b.say("telegraf: %v", err)
		return nil
	}
	defer t.stop(10 * time.Second)
	if err := sleepWatching(ctx, t, b.o.interval); err != nil {
		b.say("telegraf: %v", err)
		return nil
	}
	load0 := load1()
	c0, err := cpuTime(t.pid())
	if err != nil {
		b.say("telegraf: %v", err)
		return nil
	}
	if err := sleepWatching(ctx, t, b.o.window); err != nil {
		b.say("telegraf: %v", err)
		return nil
	}
	c1, _ := cpuTime(t.pid())
	_, peak := memKiB(t.pid())
	polls := len(agents) * int(math.Round(float64(b.o.window)/float64(b.o.interval)))
	return &loopResult{load: load0 + "→" + load1(), cpuPerPoll: float64((c1 - c0).Microseconds()) / 1000 / float64(polls), onTime: math.NaN(), polls: polls, peakKiB: peak}
}

// machine is what BENCHMARKS.md says about where the figures come from.
type machine struct {
	cpu, mem, kernel, goVersion, commit string
	cores                               int
	loadStart, loadEnd                  string
}

func readMachine() machine {
	m := machine{cores: runtime.NumCPU(), goVersion: runtime.Version(), loadStart: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, v, _ := strings.Cut(l, ":")
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) >= 2 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			m.mem = fmt.Sprintf("%.1f GiB", float64(kb)/1024/1024)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
	}
	return m
}

// load1 is the 1-minute load average.
func load1() string {
	f := strings.Fields(loadavg())
	return f[0]
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
