package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/internal/smallfs"
	"github.com/edgegw/edgegw/sim"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// plan is one soak's size and rhythm.
type plan struct {
	name            string
	devices         int
	faults          time.Duration // how long faults are made
	sample          time.Duration // memory/goroutines/files sampling period
	kills           int           // gateway SIGKILLs
	brokerRestarts  int
	diskFills       int
	diskFullFor     time.Duration
	clockSteps      int
	flapEvery       time.Duration
	flapFor         time.Duration
	flapN           int
	commandEvery    time.Duration
	poll            time.Duration
	drainWithin     time.Duration
	discoveryWithin time.Duration
}

var plans = map[string]plan{
	"quick": {name: "quick", devices: 5000, faults: 60 * time.Second, sample: 2 * time.Second, kills: 2, brokerRestarts: 1,
		diskFills: 1, diskFullFor: 10 * time.Second, clockSteps: 3, flapEvery: 6 * time.Second, flapFor: 10 * time.Second,
		flapN: 50, commandEvery: time.Second, poll: 20 * time.Second, drainWithin: 40 * time.Second, discoveryWithin: 100 * time.Second},
	"full": {name: "full", devices: 5000, faults: 27 * time.Minute, sample: 5 * time.Second, kills: 9, brokerRestarts: 5,
		diskFills: 6, diskFullFor: 30 * time.Second, clockSteps: 12, flapEvery: 10 * time.Second, flapFor: 20 * time.Second,
		flapN: 50, commandEvery: time.Second, poll: 20 * time.Second, drainWithin: 90 * time.Second, discoveryWithin: 120 * time.Second},
}

// The soak's own RabbitMQ: its own state, ports and node name, never the shared one other tests use.
const brokerState = "/tmp/edgegw-soak-peers"

var brokerEnv = []string{"PEERS_STATE=" + brokerState, "AMQPS_PORT=25671", "AMQP_PORT=25672", "RABBIT_EPMD_PORT=24369",
	"RABBIT_DIST_PORT=25679", "RABBIT_CLI_PORTS=25690-25699", "RABBIT_NODENAME=edgegw-soak@localhost"}

// The simulated site: a loopback range no other test uses, one address per device.
const (
	siteListen = "127.77.0.0/19"
	sitePort   = 16100
	gatewayID  = "gw-soak"
)

// TestSoak is the fault soak. make soak runs the full one (SOAK=full, 30 minutes); make test the quick one
// (SOAK=quick, 3 minutes). It needs root: a tmpfs to fill and a RabbitMQ of its own.
func TestSoak(t *testing.T) {
	mode := os.Getenv("SOAK")
	if mode == "" {
		t.Skip("run by make soak (SOAK=full) or make test (SOAK=quick): SOAK is not set")
	}
	p, ok := plans[mode]
	if !ok {
		t.Fatalf("SOAK=%q: want quick or full", mode)
	}
	if os.Geteuid() != 0 {
		const msg = "the soak mounts a tmpfs and runs a RabbitMQ of its own: root only"
		if peers.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("SOAK_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	r := newRun(t, p, seed)
	defer r.close()
	t.Logf("soak %s: seed %d (SOAK_SEED=%d to replay the fault schedule), report in %s", p.name, seed, seed, r.dir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()

	// Broker, site and gateway in parallel: RabbitMQ takes 10-20 s to boot, the first discovery longer;
	// the gateway keeps what it has in its outbox meanwhile. The site's clock is the soak's, frozen for
	// the drain so that no value changes any more.
	var brokerErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		r.broker.stop() // one an interrupted soak left behind, if any
		brokerErr = r.broker.start()
	})
	site, err := sim.Start(ctx, sim.Options{N: p.devices, Listen: siteListen, BasePort: sitePort, Seed: seed, Now: r.siteNow})
	require.NoError(t, err)
	defer site.Close()
	r.site = site
	r.buildGateway()
	r.broker.waitPKI()
	r.writeConfig()
	require.NoError(t, r.gw.start())
	start := time.Now()
	bg.Go(func() { r.sampleLoop(ctx) })
	wg.Wait()
	require.NoError(t, brokerErr)
	r.cloud = newCloud(t, r.broker.dial(), "/queue/soak-up-"+r.q, "/queue/soak-down-"+r.q+"-"+gatewayID, r.event)
	bg.Go(func() { r.cloud.consume(ctx) })

	r.waitFor("discovery of every device", p.discoveryWithin, func(h protocol.Health) bool { return h.Devices.Discovered == p.devices })
	r.event("discovered", fmt.Sprintf("%d devices in %s", p.devices, time.Since(start).Round(time.Second)))
	r.claimAll()
	r.waitFor("every device claimed", 60*time.Second, func(h protocol.Health) bool { return h.Devices.Claimed == p.devices })
	r.event("claimed", fmt.Sprintf("%d devices", p.devices))

	// Faults. Every seed is drawn here, in this order, before any goroutine starts: each goroutine has a
	// rand of its own, and SOAK_SEED replays the same schedule.
	commandSeed, flapSeed, scheduleSeed := rng.Int64(), rng.Uint64(), rng.Uint64()
	fctx, stopFaults := context.WithTimeout(ctx, p.faults)
	var faults sync.WaitGroup
	faults.Go(func() { r.cloud.commands(fctx, p.commandEvery, r.site.Devices(), commandSeed) })
	faults.Go(func() { r.flaps(fctx, rand.New(rand.NewPCG(flapSeed, 1))) })
	faults.Go(func() {
		if err := r.schedule(fctx, rand.New(rand.NewPCG(scheduleSeed, 2))); err != nil {
			t.Errorf("fault schedule: %v", err)
			stopFaults()
		}
	})
	faults.Wait()
	stopFaults()
	if t.Failed() {
		t.FailNow()
	}
	r.event("faults end", "")

	// Drain: every fault ended and the site's clock frozen (no value changes any more), until nothing is
	// left to send. What is still in the outbox when the gateway stops counts as kept: it goes up at
	// the next start.
	r.recoverAll()
	r.freezeSite()
	drainStart := time.Now()
	r.waitFor("the drain (every device back, the outbox empty, every command answered)", p.drainWithin, func(h protocol.Health) bool {
		return h.Devices.Online == p.devices && h.Outbox.Pending == 0 && h.Outbox.InFlight == 0 && h.Store.State == store.StateOK &&
			r.cloud.unanswered() == 0
	})
	time.Sleep(2 * time.Second) // the last deliveries reach the consumer
	r.event("drained", time.Since(drainStart).Round(time.Second).String())
	require.NoError(t, r.gw.term(), "the gateway stops cleanly")
	cancel()
	bg.Wait()

	res := r.check()
	r.report(res)
	t.Log(res.summary())
	require.Zero(t, res.lostAudits, "audit entries stored by the gateway that never reached the cloud")
	require.Zero(t, res.unanswered, "commands without a reply")
	require.Zero(t, res.regressions, "twin versions that went backwards on the cloud")
	require.Zero(t, res.patchBeforeFull, "patches of a device before its full twin")
	require.Zero(t, res.mismatched, "twins whose last state on the cloud is not the gateway's")
	require.Equal(t, p.devices, res.twins, "a twin of every device on the cloud")
}

// run is one soak's processes, files and records.
type run struct {
	t      *testing.T
	p      plan
	seed   int64
	dir    string // the report's directory
	work   string // binaries, configuration, logs
	fs     string // the tmpfs holding the state directory
	q      string
	broker *rabbit
	site   *sim.Site
	gw     *gwProc
	cloud  *cloud
	cfg    string
	offset string // the clock offset file

	mu      sync.Mutex
	events  []event
	samples []sample
	started time.Time
	frozen  time.Time // the site's clock stands still from here; zero: it runs
}

// siteNow is the simulated site's clock: the machine's, until the drain freezes it.
func (r *run) siteNow() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.frozen.IsZero() {
		return r.frozen
	}
	return time.Now()
}

func (r *run) freezeSite() {
	r.mu.Lock()
	r.frozen = time.Now()
	r.mu.Unlock()
}

type event struct {
	at     time.Duration
	kind   string
	detail string
}

type sample struct {
	at         time.Duration
	pid        int
	rssMiB     float64
	heapMiB    float64
	goroutines int
	fds        int
}

func newRun(t *testing.T, p plan, seed int64) *run {
	dir := os.Getenv("SOAK_REPORT_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin", "soak-"+p.name)
	}
	dir, _ = filepath.Abs(dir)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	r := &run{t: t, p: p, seed: seed, dir: dir, work: t.TempDir(), q: uplink.NewMessageID()[:8], started: time.Now()}
	r.fs = smallfs.Mount(t, 256<<20)
	r.offset = filepath.Join(r.work, "clock-offset")
	require.NoError(t, os.WriteFile(r.offset, []byte("0s"), 0o644))
	r.broker = &rabbit{t: t, kit: filepath.Join(peers.Kit(), "peers.sh")}
	return r
}

func (r *run) close() {
	if r.gw != nil {
		r.gw.kill()
	}
	r.broker.stop()
}

func (r *run) event(kind, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := time.Since(r.started)
	r.events = append(r.events, event{at: at, kind: kind, detail: detail})
	r.t.Logf("%7.1fs %-16s %s", at.Seconds(), kind, detail)
}

// buildGateway builds bin/edgegw for the soak.
func (r *run) buildGateway() {
	bin := filepath.Join(r.work, "edgegw")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/edgegw/edgegw/cmd/edgegw").CombinedOutput()
	require.NoError(r.t, err, "go build: %s", out)
	r.gw = &gwProc{r: r, bin: bin, log: filepath.Join(r.dir, "gateway.log")}
	_ = os.Remove(r.gw.log)
}

func (r *run) writeConfig() {
	var targets []string
	for _, d := range r.site.Devices() {
		targets = append(targets, strconv.Quote(d.Addr.String()))
	}
	b := r.broker
	r.cfg = filepath.Join(r.work, "edgegw.toml")
	cfg := fmt.Sprintf(`[gateway]
id = %q
state_dir = %q
[discovery]
interval = "1m"
max_addresses = 8192
concurrency = 128
[[discovery.snmp]]
targets = [%s]
write_community = "private"
timeout = "1s"
retries = 1
[polling]
interval = %q
jitter = 0.2
concurrency = 256
offline_after = 1
[cloud]
enabled = true
url = %q
ca_file = %q
cert_file = %q
key_file = %q
up_address = "/queue/soak-up-%s"
down_address = "/queue/soak-down-%s-{gateway_id}"
health_interval = "5s"
outbox_max_bytes = 33554432
reconnect_max = "2s"
[log]
format = "json"
`, gatewayID, filepath.Join(r.fs, "state"), strings.Join(targets, ", "), r.p.poll.String(), b.url(),
		b.pki("ca.pem"), b.pki("client.pem"), b.pki("client.key"), r.q, r.q)
	require.NoError(r.t, os.WriteFile(r.cfg, []byte(cfg), 0o600))
}

// status asks the running gateway for its health over the admin socket.
func (r *run) status() (protocol.Health, error) {
	sock := filepath.Join(r.fs, "state", "admin.sock")
	// One connection per question: a kept-alive one per call would hold one of the gateway's descriptors
	// until its idle timeout, and the descriptor curve would show the soak's questions.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://edgegw/api/cloud")
	if err != nil {
		return protocol.Health{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return protocol.Health{}, fmt.Errorf("GET /api/cloud: %s", resp.Status)
	}
	var h protocol.Health
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

// waitFor polls the gateway's health until cond holds.
func (r *run) waitFor(what string, within time.Duration, cond func(protocol.Health) bool) {
	deadline := time.Now().Add(within)
	var last protocol.Health
	var lastErr error
	for time.Now().Before(deadline) {
		h, err := r.status()
		if err == nil && cond(h) {
			return
		}
		last, lastErr = h, err
		time.Sleep(500 * time.Millisecond)
	}
	b, _ := json.Marshal(last)
	r.t.Fatalf("%s: not within %s (last health %s, err %v; cloud: %s)", what, within, b, lastErr, r.cloud.brief())
}

// cli runs an edgegw verb against the running gateway.
func (r *run) cli(args ...string) (string, error) {
	out, err := exec.Command(r.gw.bin, append(args, "--config", r.cfg)...).CombinedOutput()
	return string(out), err
}

func (r *run) claimAll() {
	var b strings.Builder
	b.WriteString("MAC,Serial\n")
	for _, d := range r.site.Devices() {
		fmt.Fprintf(&b, "%s,%s\n", d.MAC, d.Serial)
	}
	csv := filepath.Join(r.work, "devices.csv")
	require.NoError(r.t, os.WriteFile(csv, []byte(b.String()), 0o644))
	out, err := r.cli("claim", "import", csv)
	require.NoError(r.t, err, "claim import: %s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	r.event("claim import", lines[len(lines)-1])
}

// schedule makes the big faults at random times spread over the fault phase: gateway SIGKILLs, broker
// restarts, disk fills, clock steps. It runs on a goroutine of its own, so it fails no test itself: the
// first error stops it, and it returns every error once its faults have ended. All its randomness is
// drawn from rng on its own goroutine, in order.
func (r *run) schedule(ctx context.Context, rng *rand.Rand) error {
	type job struct {
		at   time.Duration
		kind string
	}
	var jobs []job
	spread := func(n int, kind string) {
		for i := range n { // one in each of n equal slices of the phase, at a random place in it
			slice := r.p.faults / time.Duration(n)
			jobs = append(jobs, job{at: time.Duration(i)*slice + time.Duration(rng.Float64()*0.8*float64(slice)), kind: kind})
		}
	}
	spread(r.p.kills, "kill")
	spread(r.p.brokerRestarts, "broker restart")
	spread(r.p.diskFills, "disk full")
	spread(r.p.clockSteps, "clock step")
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].at < jobs[j].at })

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		stop()
	}
	begin := time.Now()
	var wg sync.WaitGroup
	for _, j := range jobs {
		select {
		case <-time.After(time.Until(begin.Add(j.at))):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		switch j.kind {
		case "kill":
			r.gw.kill()
			r.event("gateway SIGKILL", "")
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
			if err := r.gw.start(); err != nil {
				fail(fmt.Errorf("gateway start: %w", err))
				break
			}
			r.event("gateway started", "")
		case "broker restart":
			pause := time.Duration(1+rng.IntN(3)) * time.Second
			wg.Go(func() {
				r.event("broker stop", "")
				_ = r.broker.sh("stop")
				time.Sleep(pause)
				if err := r.broker.start(); err != nil {
					fail(fmt.Errorf("broker start: %w", err))
					return
				}
				r.event("broker started", "")
			})
		case "disk full":
			wg.Go(func() {
				filler, err := smallfs.FillFile(r.fs, "filler", 512<<20)
				if err != nil {
					fail(err)
					return
				}
				defer func() {
					_ = os.Remove(filler)
					r.event("disk freed", "")
				}()
				free, err := smallfs.Free(r.fs)
				if err != nil {
					fail(err)
					return
				}
				r.event("disk full", fmt.Sprintf("%d bytes free", free))
				select {
				case <-time.After(r.p.diskFullFor):
				case <-ctx.Done():
				}
			})
		case "clock step":
			steps := []string{"2h", "-3h", "45m", "-30m", "26h", "-1h", "0s"}
			s := steps[rng.IntN(len(steps))]
			if err := os.WriteFile(r.offset, []byte(s), 0o644); err != nil {
				fail(fmt.Errorf("clock step: %w", err))
				break
			}
			r.event("clock step", "offset "+s)
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// flaps makes a few devices stop answering for a while, again and again.
func (r *run) flaps(ctx context.Context, rng *rand.Rand) {
	t := time.NewTicker(r.p.flapEvery)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	flapped := 0
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			r.event("flaps", fmt.Sprintf("%d device outages", flapped))
			return
		}
		idx := rng.Perm(r.p.devices)[:r.p.flapN]
		for _, i := range idx {
			r.site.SetFault(i, sim.Silent)
		}
		flapped += len(idx)
		wg.Go(func() {
			select {
			case <-time.After(r.p.flapFor):
			case <-ctx.Done():
			}
			for _, i := range idx {
				r.site.SetFault(i, sim.None)
			}
		})
	}
}

// recoverAll ends every fault: the gateway and the broker up, the disk free, the clock back.
func (r *run) recoverAll() {
	_ = os.Remove(filepath.Join(r.fs, "filler"))
	require.NoError(r.t, os.WriteFile(r.offset, []byte("0s"), 0o644))
	if !r.broker.running() {
		require.NoError(r.t, r.broker.start())
	}
	if !r.gw.running() {
		require.NoError(r.t, r.gw.start())
	}
}

// sampleLoop samples the gateway's memory, goroutines and open files.
func (r *run) sampleLoop(ctx context.Context) {
	t := time.NewTicker(r.p.sample)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		pid := r.gw.pid()
		if pid == 0 {
			continue
		}
		h, err := r.status()
		if err != nil || h.Process.Goroutines == 0 {
			continue // starting, stopping or gone: no sample rather than a zero one
		}
		s := sample{at: time.Since(r.started), pid: pid, rssMiB: rssMiB(pid), fds: countFDs(pid),
			goroutines: h.Process.Goroutines, heapMiB: float64(h.Process.HeapBytes) / (1 << 20)}
		if s.rssMiB == 0 || s.fds == 0 {
			continue
		}
		r.mu.Lock()
		r.samples = append(r.samples, s)
		r.mu.Unlock()
	}
}

func rssMiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func countFDs(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(es)
}

// gwProc is the gateway process: started, SIGKILLed and started again, on the same state.
type gwProc struct {
	r    *run
	bin  string
	log  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

// start starts the gateway. It returns its error rather than failing the test: the fault schedule
// calls it from a goroutine of its own.
func (g *gwProc) start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(g.bin, "run", "--config", g.r.cfg)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "EDGEGW_TEST_CLOCK_OFFSET_FILE="+g.r.offset)
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); f.Close() }()
	g.cmd, g.done = cmd, done
	return nil
}

func (g *gwProc) pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return 0
	}
	select {
	case err := <-g.done:
		g.done <- err
		return 0
	default:
		return g.cmd.Process.Pid
	}
}

func (g *gwProc) running() bool { return g.pid() != 0 }

// kill SIGKILLs the gateway, as a crash or the OOM killer would.
func (g *gwProc) kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.done
	g.cmd = nil
}

// term stops the gateway as systemd would, and returns its exit error.
func (g *gwProc) term() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return fmt.Errorf("not running")
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.cmd = nil
		return err
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Signal(syscall.SIGKILL)
		<-g.done
		g.cmd = nil
		return fmt.Errorf("did not stop within 30 s of SIGTERM")
	}
}

// rabbit is the soak's RabbitMQ, run by the repository's scripts/peers/peers.sh with a state directory,
// ports and node name of its own.
type rabbit struct {
	t   *testing.T
	kit string
	mu  sync.Mutex
	up  bool
}

func (b *rabbit) sh(verb string) error {
	cmd := exec.Command(b.kit, verb, "rabbitmq")
	cmd.Env = append(os.Environ(), brokerEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("peers.sh %s rabbitmq: %v: %s", verb, err, out)
	}
	b.mu.Lock()
	b.up = verb == "start"
	b.mu.Unlock()
	return nil
}

func (b *rabbit) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.up
}

func (b *rabbit) start() error {
	if err := b.sh("start"); err != nil {
		return err
	}
	env, err := peers.LoadFile(filepath.Join(brokerState, "peers.env"))
	if err != nil {
		return err
	}
	if env["PEERS_AMQPS_URL"] != b.url() {
		return fmt.Errorf("the soak's RabbitMQ is at %q, not %q", env["PEERS_AMQPS_URL"], b.url())
	}
	return nil
}

func (b *rabbit) stop() { _ = b.sh("stop") }

func (b *rabbit) dial() uplink.DialConfig {
	return uplink.DialConfig{URL: b.url(), CAFile: b.pki("ca.pem"), CertFile: b.pki("client.pem"), KeyFile: b.pki("client.key"),
		SASL: uplink.SASLExternal}
}

// The broker's address and test PKI are known before it has booted: the gateway can start at once.
func (b *rabbit) url() string            { return "amqps://127.0.0.1:25671" }
func (b *rabbit) pki(name string) string { return filepath.Join(brokerState, "pki", name) }

// waitPKI waits until peers.sh has made the test PKI (the first thing its start does).
func (b *rabbit) waitPKI() {
	for range 300 {
		if _, err := os.Stat(b.pki("client.key")); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatal("peers.sh made no PKI in 30 s")
}

// result is what the soak found.
type result struct {
	received, unique, duplicates  int
	byKind                        map[string]int
	commands, replies, unanswered int
	auditsChecked, lostAudits     int
	twins, mismatched             int
	regressions, patchBeforeFull  int
	resyncFulls                   int
	telemetry                     int
	leftInOutbox                  int
	notes                         []string
}

func (res result) summary() string {
	return fmt.Sprintf("messages %d (%d unique, %d duplicates); commands %d, unanswered %d; audit entries checked %d, lost %d; "+
		"twins %d, not as in the gateway %d; versions backwards %d, patches before a full twin %d; telemetry %d",
		res.received, res.unique, res.duplicates, res.commands, res.unanswered, res.auditsChecked, res.lostAudits, res.twins,
		res.mismatched, res.regressions, res.patchBeforeFull, res.telemetry)
}

// check holds the cloud's view against the gateway's state file, read after the gateway stopped.
func (r *run) check() result {
	db, err := store.Open(filepath.Join(r.fs, "state"), &store.Options{ReadOnly: true})
	require.NoError(r.t, err)
	defer db.Close()
	// What is still in the outbox is kept, not lost: it goes up at the next start. Taken as delivered.
	left := 0
	ob, err := outbox.Open(db, outbox.Options{})
	require.NoError(r.t, err)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		m, err := ob.Next(ctx)
		cancel()
		if err != nil {
			break
		}
		left++
		r.cloud.record(protocol.Envelope{Kind: m.Kind, DeviceID: m.DeviceID, MessageID: m.ID, CorrelationID: m.CorrelationID, Body: m.Body})
	}
	_ = ob.Close()

	c := r.cloud
	c.mu.Lock()
	defer c.mu.Unlock()
	res := result{leftInOutbox: left, byKind: c.byKind, received: c.received, unique: len(c.ids), regressions: len(c.regressions),
		patchBeforeFull: c.patchBeforeFull, telemetry: c.byKind[protocol.KindTelemetry], commands: len(c.sent)}
	res.duplicates = res.received - res.unique
	for id := range c.sent {
		if c.replies[id] == 0 {
			res.unanswered++
		} else {
			res.replies++
		}
	}
	res.notes = append(res.notes, c.regressions...)

	g, err := gateway.New(gateway.Options{Store: db})
	require.NoError(r.t, err)
	claimedAt := map[string]time.Time{}
	entries, err := g.AuditLog("", time.Time{})
	require.NoError(r.t, err)
	for _, e := range entries {
		if e.Action == "claimed" {
			if _, seen := claimedAt[e.DeviceID]; !seen {
				claimedAt[e.DeviceID] = e.Time
			}
		}
	}
	notUp := map[string]bool{"claim pending": true, "claim rejected": true, "claim attempt rejected": true, "identity mismatch": true}
	for _, e := range entries {
		at, claimed := claimedAt[e.DeviceID]
		if !claimed || notUp[e.Action] || e.Time.Before(at) {
			continue
		}
		res.auditsChecked++
		if !c.audits[auditKey(e)] {
			res.lostAudits++
			if res.lostAudits <= 5 {
				res.notes = append(res.notes, fmt.Sprintf("audit entry never reached the cloud: %+v", e))
			}
		}
	}
	for _, tw := range g.Twins() {
		if tw.Claim.State != gateway.ClaimClaimed {
			continue
		}
		m := c.twins[tw.DeviceID]
		if m == nil {
			res.notes = append(res.notes, "no twin of "+tw.DeviceID+" on the cloud")
			res.mismatched++
			continue
		}
		res.twins++
		res.resyncFulls += max(m.fulls-1, 0)
		want := reportedValues(r.t, tw)
		if m.version != tw.Reported.Version || !reflect.DeepEqual(m.values, want) {
			res.mismatched++
			if res.mismatched <= 5 {
				res.notes = append(res.notes, fmt.Sprintf("%s: cloud has $version %d %v, the gateway %d %v", tw.DeviceID, m.version,
					m.values, tw.Reported.Version, want))
			}
		}
	}
	return res
}

// reportedValues is a twin's reported values as the cloud reads them (JSON).
func reportedValues(t *testing.T, tw gateway.Twin) map[string]any {
	b, err := json.Marshal(tw.Reported)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	delete(m, "$version")
	return m
}

func auditKey(e gateway.AuditEntry) string {
	return e.Time.UTC().Format(time.RFC3339Nano) + "|" + e.DeviceID + "|" + e.Action + "|" + e.Old + "|" + e.New
}
