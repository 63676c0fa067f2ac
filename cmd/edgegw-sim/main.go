// Command edgegw-sim runs a simulated site of SNMP and Modbus TCP devices on
// loopback, for demos and for testing edgegw against many devices. See package
// sim for the objects and registers each device serves.
//
//	edgegw-sim --snmp 100                        # 127.0.0.1:16100..16199
//	edgegw-sim --snmp 50 --listen 127.0.10.0/24  # 127.0.10.1..50, port 161
//	edgegw-sim --snmp 50000 --modbus 300 --listen 127.77.0.0/16 --base-port 16161  # a campus, one SNMP socket
//	edgegw-sim --snmp 10 --devices-csv -         # also print a claim list
//	edgegw-sim --snmp 20 --modbus 4 --listen 127.0.10.0/27  # Modbus on 127.0.10.21..24, port 1502
//	ip netns exec demo edgegw-sim --snmp 6 --mdns-netns demo  # displays and projectors also on mDNS
//	edgegw-sim --snmp 6 --listen 127.0.10.0/24 --traps-to 127.0.0.1:10162 --trap-rate 0.5  # and traps
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgegw/edgegw/sim"
)

// listAll is the device count up to which every device gets its own line.
const listAll = 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code (0 clean stop,
// 1 runtime failure, 2 usage error).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgegw-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		n         = fs.Int("snmp", 0, "number of simulated SNMP devices (1.."+fmt.Sprint(sim.MaxDevices)+")")
		nModbus   = fs.Int("modbus", 0, "number of simulated Modbus TCP devices: EM100 meters and SI3600 SunSpec inverters, alternating")
		mbPort    = fs.Int("modbus-port", -1, "first Modbus TCP port; default 15200 for an address, 1502 for a prefix (after the SNMP devices' addresses); 0 lets the OS choose")
		listen    = fs.String("listen", "127.0.0.1", "loopback address (device i on port base-port+i) or loopback prefix such as 127.0.10.0/24 (device i on the prefix's i-th host address; over "+fmt.Sprint(sim.SharedAbove)+" devices all share one socket bound to the loopback interface); nothing else is accepted")
		basePort  = fs.Int("base-port", -1, "first UDP port; default 16100 for an address, 161 for a prefix; 0 lets the OS choose")
		mdnsNetns = fs.String("mdns-netns", "", "announce every display and projector over mDNS (_pjlink._tcp) with sockets in this network namespace (one made for it, never the host's)")
		csvPath   = fs.String("devices-csv", "", "write MAC,Serial,Address,Model of every device to this file (- for stdout)")
		community = fs.String("community", "public", "read-only community")
		rwComm    = fs.String("rw-community", "private", "read-write community (SET)")
		v3User    = fs.String("v3-user", "simuser", "SNMPv3 user (SHA/AES-128); <user>256 uses SHA-256/AES-128; empty disables v3")
		v3Auth    = fs.String("v3-auth-pass", "authpass123", "SNMPv3 authentication passphrase")
		v3Priv    = fs.String("v3-priv-pass", "privpass123", "SNMPv3 privacy passphrase; empty allows authNoPriv only")
		seed      = fs.Int64("seed", 1, "identity seed: same seed, same MACs and serials")
		trapsTo   = fs.String("traps-to", "", "send SNMPv2c traps from the devices to this loopback address:port (a gateway's [traps] listen): UPSes go on battery and back, displays and projectors lose their link and get it back")
		trapRate  = fs.Float64("trap-rate", 1, "traps per second, all devices together (0.01..1000), with --traps-to")
		informs   = fs.Bool("informs", false, "with --traps-to, send informs (sent again until acknowledged) instead of traps")
		verbose   = fs.Bool("v", false, "log at debug level")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edgegw-sim --snmp N [--modbus M] [flags]\n\nRuns simulated SNMP and Modbus TCP devices on loopback until SIGINT/SIGTERM.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "edgegw-sim: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if *n < 1 || *n > sim.MaxDevices {
		return usage("--snmp must be 1..%d", sim.MaxDevices)
	}
	if *nModbus < 0 || *nModbus > sim.MaxDevices {
		return usage("--modbus must be 0..%d", sim.MaxDevices)
	}
	var trapTo netip.AddrPort
	if *trapsTo != "" {
		ap, err := netip.ParseAddrPort(*trapsTo)
		if err != nil || !ap.Addr().Unmap().IsLoopback() || ap.Port() == 0 {
			return usage("--traps-to %q: want a loopback address and port, such as 127.0.0.1:10162", *trapsTo)
		}
		trapTo = ap
	}
	if *trapRate < 0.01 || *trapRate > 1000 {
		return usage("--trap-rate must be 0.01..1000 a second")
	}
	if *mbPort < 0 {
		*mbPort = 15200
		if sim.IsPrefix(*listen) {
			*mbPort = 1502
		}
	}
	if *basePort < 0 {
		*basePort = 16100
		if sim.IsPrefix(*listen) {
			*basePort = 161
		}
	}
	// Validate the addresses before anything binds, so a bad --listen is a
	// usage error.
	if _, err := sim.PlanAddrs(*listen, *basePort, *n+*nModbus); err != nil {
		return usage("%v", err)
	}
	// Each device has a socket unless a prefix site shares one; each Modbus device a listener and up
	// to two connections; the rest is slack for the runtime and stdio.
	need := uint64(*n)
	if sim.IsPrefix(*listen) && *n > sim.SharedAbove {
		need = 1
	}
	need += uint64(*nModbus)*3 + 64
	note, err := raiseFileLimit(need)
	if err != nil {
		fmt.Fprintf(stderr, "edgegw-sim: %d SNMP and %d Modbus devices: %v\n", *n, *nModbus, err)
		return 1
	}
	if note != "" {
		fmt.Fprintf(stderr, "edgegw-sim: %s\n", note)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	site, err := sim.Start(ctx, sim.Options{
		N: *n, Listen: *listen, BasePort: *basePort,
		Community: *community, RWCommunity: *rwComm,
		V3User: *v3User, V3AuthPass: *v3Auth, V3PrivPass: *v3Priv,
		Seed: *seed, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "edgegw-sim: %v\n", err)
		return 1
	}
	defer site.Close()
	var mb *sim.ModbusSite
	if *nModbus > 0 {
		if mb, err = sim.StartModbus(ctx, sim.ModbusOptions{N: *nModbus, Listen: *listen, BasePort: *mbPort, Skip: *n,
			Seed: *seed, Logger: log}); err != nil {
			fmt.Fprintf(stderr, "edgegw-sim: %v\n", err)
			return 1
		}
		defer mb.Close()
	}

	devices := site.Devices()
	if *mdnsNetns != "" {
		r, err := sim.StartMDNS(sim.MDNSOptions{Netns: *mdnsNetns, Devices: devices, Logger: log})
		if err != nil {
			fmt.Fprintf(stderr, "edgegw-sim: %v\n", err)
			return 1
		}
		defer r.Close()
	}
	var mbDevices []sim.ModbusDevice
	if mb != nil {
		mbDevices = mb.Devices()
	}
	if *csvPath != "" {
		if err := writeCSV(*csvPath, stdout, devices, mbDevices); err != nil {
			fmt.Fprintf(stderr, "edgegw-sim: devices csv %s: %v\n", *csvPath, err)
			return 1
		}
	}
	// With the CSV on stdout, the listing goes to stderr to keep stdout
	// machine-readable.
	out := stdout
	if *csvPath == "-" {
		out = stderr
	}
	printDevices(out, devices)
	printModbus(out, mbDevices)
	if *v3User != "" {
		fmt.Fprintf(out, "v3 users %s (SHA/AES-128) and %s256 (SHA-256/AES-128)\n", *v3User, *v3User)
	}
	trapsDone := make(chan error, 1)
	if trapTo.IsValid() {
		tctx, stopTraps := context.WithCancel(ctx)
		defer func() { stopTraps(); <-trapsDone }()
		go func() {
			trapsDone <- site.RunTraps(tctx, sim.TrapOptions{To: trapTo, Rate: *trapRate, Inform: *informs})
		}()
		kind := "traps"
		if *informs {
			kind = "informs"
		}
		fmt.Fprintf(out, "sending %s to %s, %g a second\n", kind, trapTo, *trapRate)
	} else {
		trapsDone <- nil
	}
	fmt.Fprintln(out, "ready; stop with SIGINT or SIGTERM")

	select {
	case <-ctx.Done():
	case <-site.Done():
	}
	_ = site.Close()
	if mb != nil {
		_ = mb.Close()
		fmt.Fprintf(out, "modbus: %d requests answered\n", mb.Requests())
	}
	st := site.Stats()
	fmt.Fprintf(out, "stopped: %d requests received, %d answered, %d bad community, %d malformed\n",
		st.Received, st.Answered, st.BadCommunity, st.Malformed)
	return 0
}

func printDevices(w io.Writer, devices []sim.Device) {
	if len(devices) <= listAll {
		for _, d := range devices {
			fmt.Fprintf(w, "%-21s %-9s %-6s %-17s %s %s\n", d.Addr, d.Kind, d.Model, d.MAC, d.Serial, d.Hostname)
		}
		return
	}
	kinds := map[string]int{}
	for _, d := range devices {
		kinds[d.Kind]++
	}
	fmt.Fprintf(w, "%d SNMP devices, %s .. %s (display %d, projector %d, ups %d)\n",
		len(devices), devices[0].Addr, devices[len(devices)-1].Addr, kinds["display"], kinds["projector"], kinds["ups"])
}

func printModbus(w io.Writer, devices []sim.ModbusDevice) {
	if len(devices) > listAll {
		fmt.Fprintf(w, "%d Modbus TCP devices, %s .. %s\n", len(devices), devices[0].Addr, devices[len(devices)-1].Addr)
		return
	}
	for _, d := range devices {
		fmt.Fprintf(w, "%-21s %-9s %-6s %-17s %s unit %d\n", d.Addr, d.Kind, d.Model, d.MAC, d.Serial, d.Unit)
	}
}

// writeCSV writes the claim list: MAC,Serial,Address,Model with a header; Modbus devices' addresses
// are written as modbus://host:port?unit=N.
func writeCSV(path string, stdout io.Writer, devices []sim.Device, mb []sim.ModbusDevice) (err error) {
	w := stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		w = f
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"MAC", "Serial", "Address", "Model"})
	for _, d := range devices {
		_ = cw.Write([]string{d.MAC, d.Serial, d.Addr.String(), d.Model})
	}
	for _, d := range mb {
		_ = cw.Write([]string{d.MAC, d.Serial, fmt.Sprintf("modbus://%s?unit=%d", d.Addr, d.Unit), d.Model})
	}
	cw.Flush()
	return cw.Error()
}
