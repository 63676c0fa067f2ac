// Command edgegw-console is the cloud side of edgegw's uplink, for operators and tests: it reads what
// gateways send to cloud.up_address and sends commands to each gateway's cloud.down_address, with
// the wire protocol of package uplink/protocol (docs/uplink-protocol.md) and the dialer and TLS rules
// of package uplink.
//
//	edgegw-console --config console.toml tail --gateway site-gw-1 --json
//	edgegw-console --config console.toml health --gateway site-gw-1
//	edgegw-console --config console.toml twin --device mac-001122aabbcc
//	edgegw-console --config console.toml set --device mac-001122aabbcc inputSource=hdmi1 volume=20
//	edgegw-console --config console.toml count --gateway site-gw-1 --timeout 10s --expect 20000
//
// The console consumes cloud.up_address: every message it reads is accepted, and so removed from
// the queue, whether it prints it or not (another gateway's, another kind, a reply to someone else's
// command). Run one console at a time against a queue, and a test's console against a test queue.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgegw/edgegw/config"
)

// Exit codes.
const (
	exitOK      = 0 // done: the answer came, the messages were printed or counted
	exitFailure = 1 // the config, the connection or the gateway failed, or nothing came in time
	exitUsage   = 2 // the command line is wrong
)

const topUsage = `Usage: edgegw-console --config FILE VERB [flags]

The cloud side of edgegw's uplink: reads what gateways send to cloud.up_address and sends
commands to each gateway's cloud.down_address ({gateway_id} filled in). FILE holds a [cloud]
table with the gateway's connection keys (url, ca_file, cert_file, key_file, sasl, username,
password_file, up_address, down_address, proxy, proxy_auth_file, insecure_plaintext,
websocket_subprotocol) and the same TLS rules.

Verbs:
  tail    [--gateway G] [--kind K] [--json] [--count N] [--timeout D]
          print messages as they arrive, one line each
  events  [--gateway G] [--device D] [--json] [--count N] [--timeout D]
          print the gateways' events (traps and informs, named) as they arrive
  health  --gateway G [--wait 30s] [--json]
          wait for the gateway's next health message and print it
  twin    --device D [--gateway G] [--wait 30s]
          ask the gateway for the device's twin (twin-get) and print it
  set     --device D [--gateway G] [--version N] [--wait 30s] key=value...
          send desired properties (twin-desired) and print the result
  claim   --gateway G --mac M --serial S [--group X] [--wait 30s]
          claim a device by MAC and serial
  unclaim --gateway G (--mac M | --device D) [--wait 30s]
          release a claimed device
  method  --device D [--gateway G] [--wait 30s] NAME [key=value...]
          invoke a device method
  logs    --gateway G [--since 1h] [--lines N] [--wait 30s]
          fetch the gateway's recent log lines and audit entries (logs-upload)
  count   --gateway G [--timeout 10s] [--expect N] [--json]
          count unique and duplicate message-ids until a silence (loss tests)

Run 'edgegw-console VERB --help' for a verb's flags. --config may come before or after VERB.

Commands go out with a fresh message-id; the reply is the up_address message whose
correlation-id is that id. Without --gateway, twin/set/method first watch up_address for a
message about the device to learn its gateway.

The console CONSUMES up_address: every message it reads is accepted (removed from the queue),
printed or not. Run one console at a time against a queue.

Exit status: 0 done; 1 failure (config, connection, nothing in time, the gateway answered
ok=false, count below --expect); 2 usage error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// verb is one subcommand. setup adds its flags to fs and returns prepare, which checks the parsed
// flags and positional arguments before anything connects and returns what to run once connected.
type verb struct {
	name, usage, help string
	setup             func(fs *flag.FlagSet) prepare
}

type (
	prepare func(args []string) (action, error)
	action  func(ctx context.Context, c *console) error
)

func verbs() []verb {
	return []verb{
		{"tail", "tail [--gateway G] [--kind K] [--json] [--count N] [--timeout D]", tailHelp, tailVerb},
		{"events", "events [--gateway G] [--device D] [--json] [--count N] [--timeout D]", eventsHelp, eventsVerb},
		{"health", "health --gateway G [--wait 30s] [--json]", healthHelp, healthVerb},
		{"twin", "twin --device D [--gateway G] [--wait 30s]", twinHelp, twinVerb},
		{"set", "set --device D [--gateway G] [--version N] [--wait 30s] key=value...", setHelp, setVerb},
		{"claim", "claim --gateway G --mac M --serial S [--group X] [--wait 30s]", claimHelp, claimVerb},
		{"unclaim", "unclaim --gateway G (--mac M | --device D) [--wait 30s]", unclaimHelp, unclaimVerb},
		{"method", "method --device D [--gateway G] [--wait 30s] NAME [key=value...]", methodHelp, methodVerb},
		{"logs", "logs --gateway G [--since 1h] [--lines N] [--wait 30s]", logsHelp, logsVerb},
		{"count", "count --gateway G [--timeout 10s] [--expect N] [--json]", countHelp, countVerb},
	}
}

// usageError is a mistake in how the command was called: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// failure is what the command found out (ok=false, count below --expect): exit 1, printed as is.
type failure struct{ msg string }

func (e failure) Error() string { return e.msg }

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	top := flag.NewFlagSet("edgegw-console", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	configPath := top.String("config", "", "the console's config file (a [cloud] table)")
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, topUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "edgegw-console: %v\n\n%s", config.RedactURLs(err.Error()), topUsage)
		return exitUsage
	}
	rest := top.Args()
	if len(rest) == 0 {
		fmt.Fprintf(stderr, "edgegw-console: no verb\n\n%s", topUsage)
		return exitUsage
	}
	if rest[0] == "help" {
		if len(rest) > 1 {
			rest = []string{rest[1], "--help"}
		} else {
			fmt.Fprint(stdout, topUsage)
			return exitOK
		}
	}
	var v *verb
	for _, cand := range verbs() {
		if cand.name == rest[0] {
			v = &cand
			break
		}
	}
	if v == nil {
		fmt.Fprintf(stderr, "edgegw-console: unknown verb %q\n\n%s", config.RedactURLs(rest[0]), topUsage)
		return exitUsage
	}

	fs := flag.NewFlagSet(v.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(configPath, "config", *configPath, "the console's config file (a [cloud] table)")
	prep := v.setup(fs)
	pos, err := parseInterleaved(fs, rest[1:])
	if errors.Is(err, flag.ErrHelp) {
		printVerbUsage(stdout, v, fs)
		return exitOK
	}
	var do action
	if err == nil {
		do, err = prep(pos)
	}
	if err != nil {
		return report(stderr, v.name, err)
	}
	if *configPath == "" {
		return report(stderr, v.name, usagef("--config FILE is required"))
	}
	c, err := open(ctx, *configPath, stdout, stderr)
	if err != nil {
		return report(stderr, v.name, err)
	}
	defer c.close()
	return report(stderr, v.name, do(ctx, c))
}

func report(stderr io.Writer, verb string, err error) int {
	var ue usageError
	var f failure
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "edgegw-console %s: %s (see edgegw-console %s --help)\n", verb, config.RedactURLs(ue.msg), verb)
		return exitUsage
	case errors.As(err, &f):
		fmt.Fprintln(stderr, config.RedactURLs(f.msg))
		return exitFailure
	}
	// Messages echo what the user typed or configured, which may be a URL with a password in it.
	fmt.Fprintf(stderr, "edgegw-console %s: %s\n", verb, config.RedactURLs(err.Error()))
	return exitFailure
}

func printVerbUsage(w io.Writer, v *verb, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: edgegw-console --config FILE %s\n\n%s\nFlags:\n", v.usage, v.help)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseInterleaved parses flags anywhere among the positional arguments (method NAME --gateway G),
// up to a "--", and returns the positional ones. Problems are usage errors.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s", err.Error())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag.Parse stops at the first non-flag, and consumes a "--" it meets there.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// need is a usage error for a required flag left out.
func need(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return usagef("--%s is required", name)
	}
	return nil
}
