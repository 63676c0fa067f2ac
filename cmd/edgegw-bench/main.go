//go:build linux

// Command edgegw-bench is `make bench`: the daemon-level benchmark. It runs the real edgegw daemon
// (bin/edgegw) as its own process against edgegw-sim (its own process too) at 1,000, 10,000 and 50,000
// claimed simulated devices, with the cloud off and on (RabbitMQ from scripts/peers, every message
// drained and counted by edgegw-console), and measures from /proc what a site would pay: CPU-ms per
// poll, polls on time, peak RSS and KiB per device, start-up to first poll with the twins in the store,
// the import of the devices' claim CSV. Beside it, in the same run: the bare gosnmp loop doing the same
// requests (BenchmarkBareLoop), the /16 sweep, the uplink's msg/s beside a bare go-amqp sender
// (BenchmarkUplinkRabbitMQ) and, with TELEGRAF_BIN, Telegraf's inputs.snmp on the same displays. It
// writes the figures into BENCHMARKS.md between its markers, with the machine, the commit and the
// command.
//
//	edgegw-bench                      # 1,000, 10,000 and 50,000 devices, 60 s interval (about 25 min)
//	edgegw-bench --quick              # 1,000 and 10,000, 10 s interval (about 5 min with a broker)
//
// Every process it starts is its own, stopped by PID; every wait is bounded; all traffic is loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgegw-bench:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	quick    bool
	sizes    []int
	interval time.Duration
	window   time.Duration
	out      string
	bin      string
	keep     bool
	parts    map[string]bool
	command  string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgegw-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "1,000 and 10,000 devices at a 10 s interval (about 5 minutes with a broker)")
	sizes := fs.String("sizes", "", "device counts, comma-separated (default 1000,10000,50000; --quick 1000,10000)")
	interval := fs.Duration("interval", 0, "polling interval (default 60s; --quick 10s)")
	window := fs.Duration("window", 0, "how long each measurement lasts, after one interval of warm-up (default 2 intervals)")
	out := fs.String("out", "BENCHMARKS.md", "file to write the results into (between its edgegw-bench markers); - for stdout only")
	bin := fs.String("bin", "bin", "directory of edgegw, edgegw-sim and edgegw-console")
	keep := fs.Bool("keep", false, "keep the temporary directory (configs, logs, state, profiles)")
	parts := fs.String("parts", "daemon,bare,sweep,uplink,telegraf", "what to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := options{quick: *quick, interval: *interval, window: *window, out: *out, bin: *bin, keep: *keep,
		parts: map[string]bool{}, command: strings.TrimSpace("edgegw-bench " + strings.Join(args, " "))}
	for _, p := range strings.Split(*parts, ",") {
		o.parts[strings.TrimSpace(p)] = true
	}
	switch {
	case *sizes != "":
		for _, s := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 60000 {
				return fmt.Errorf("--sizes: %q is not a device count 1..60000", s)
			}
			o.sizes = append(o.sizes, n)
		}
	case o.quick:
		o.sizes = []int{1000, 10000}
	default:
		o.sizes = []int{1000, 10000, 50000}
	}
	if o.interval == 0 {
		o.interval = 60 * time.Second
		if o.quick {
			o.interval = 10 * time.Second
		}
	}
	if o.window == 0 {
		o.window = 2 * o.interval
	}
	b, err := newBench(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer b.cleanup()
	res, err := b.all(ctx)
	if err != nil {
		return err
	}
	report := res.markdown()
	fmt.Fprint(stdout, report)
	if o.out != "-" {
		return writeBetweenMarkers(o.out, report)
	}
	return nil
}
