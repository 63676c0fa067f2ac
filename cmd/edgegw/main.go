// Command edgegw is the gateway daemon and its command line: run, discover, config check, version.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/edgegw/edgegw/config"
)

// version is set at build time with -ldflags "-X main.version=1.2.3"; otherwise the module's build
// information is used.
var version = ""

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a mistake in how the command was called: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

const topUsage = `edgegw: an edge gateway that discovers devices over SNMP, Modbus and mDNS, keeps a twin of each,
and carries the claimed ones to the cloud over one AMQP connection.

Usage:
  edgegw run --config FILE                 run the daemon (discovery, polling, twins in the state store)
  edgegw discover [--config FILE] [--json] [--target URL]...
                                           one discovery pass, print what answered, exit
  edgegw config check --config FILE        check a configuration file
  edgegw claim add|import|list|remove ... --config FILE
                                           claim devices by MAC + serial (see edgegw claim --help)
  edgegw audit [--device D] [--since T] [--json] --config FILE
                                           who changed what, when
  edgegw events [--device D] [--since T] [--json] [--stats] --config FILE
                                           what devices reported on their own (SNMP traps, informs)
  edgegw cloud enable|disable|status --config FILE
                                           switch the cloud uplink of the running daemon, or show its health
  edgegw status [--json] --config FILE     is it healthy? (exit 0 healthy, 1 not running, 3 degraded)
  edgegw admin token --config FILE         the token of the admin page and API (docs/operate.md)
  edgegw profile list|show NAME|test --target URL
                                           device profiles: list, show one, test one against a device
  edgegw init [--id ID] [--dir DIR]        make the gateway's key, certificate request and starting config
  edgegw init --check [--config FILE]      check the key, certificate and CA the config names
  edgegw service install|uninstall|start|stop
                                           the Windows service (Linux: systemctl ... edgegw)
  edgegw version                           print the version

Run "edgegw COMMAND --help" for a command's options.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stdout, stderr)
	case "discover":
		err = cmdDiscover(args[1:], stdout, stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			if len(args) >= 2 && isHelp(args[1]) {
				fmt.Fprint(stdout, "Usage: edgegw config check --config FILE\n")
				return exitOK
			}
			err = usagef("usage: edgegw config check --config FILE")
			break
		}
		err = cmdConfigCheck(args[2:], stdout, stderr)
	case "cloud":
		err = cmdCloud(args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(args[1:], stdout, stderr)
	case "admin":
		err = cmdAdmin(args[1:], stdout, stderr)
	case "claim":
		err = cmdClaim(args[1:], stdout, stderr)
	case "events":
		err = cmdEvents(args[1:], stdout, stderr)
	case "audit":
		err = cmdAudit(args[1:], stdout, stderr)
	case "profile":
		err = cmdProfile(args[1:], stdout, stderr)
	case "version":
		err = cmdVersion(args[1:], stdout)
	case "init":
		err = cmdInit(args[1:], stdout, stderr)
	case "service":
		err = cmdService(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, topUsage)
		return exitOK
	default:
		err = usagef("edgegw: unknown command %q\n\n%s", args[0], topUsage)
	}
	var ue usageError
	var code exitCode
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		// Messages echo what the user typed, which may be a URL with a community or password in it.
		fmt.Fprintln(stderr, config.RedactURLs(strings.TrimRight(ue.msg, "\n")))
		return exitUsage
	case errors.Is(err, errSilent):
		return exitFailure
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintln(stderr, "edgegw:", config.RedactURLs(err.Error()))
		return exitFailure
	}
}

// errSilent is a failure whose explanation was already printed.
var errSilent = errors.New("failed")

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "help" }

// newFlags makes a subcommand's flag set that reports problems as usage errors instead of exiting.
func newFlags(name, usage string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: %s\n\nOptions:\n", usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags; --help prints usage and yields flag.ErrHelp, anything wrong is a usage error.
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return err // Parse has printed the usage already
	}
	if err != nil {
		return usagef("edgegw %s: %v (see --help)", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("edgegw %s: unexpected argument %q (see --help)", fs.Name(), fs.Arg(0))
	}
	return nil
}

func cmdVersion(args []string, stdout io.Writer) error {
	fs := newFlags("version", "edgegw version", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "edgegw", Version())
	return nil
}

// Version is the build's version: the -ldflags value, else the module version and VCS revision.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if len(s.Value) > 12 {
				s.Value = s.Value[:12]
			}
			v += "+" + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "-dirty"
			}
		}
	}
	return v
}
