package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink/protocol"
)

const defaultWait = 30 * time.Second

const tailHelp = `Prints the messages arriving on up_address, one line each: creation time (UTC), gateway-id,
device-id ("-" for gateway-level messages), kind, message-id, "re=" and the correlation-id on
replies, and the body (compacted, cut at 160 characters). With --json, one JSON object per line:
kind, gatewayId, deviceId, messageId, correlationId, created, body (the body as JSON).

Messages of other gateways or kinds are consumed too but not printed. Without --count or
--timeout, tail runs until interrupted (exit 0). --count N stops after N printed messages
(exit 0). --timeout D stops after D without a printed message: exit 0 if at least one was
printed, 1 if none was.
`

const healthHelp = `Waits for the next health message of the gateway on up_address and prints it: a summary, or
with --json its body on one line. Exit 1 if none arrives within --wait. A health message already
waiting in the queue counts as the next one; its time is shown.
`

const twinHelp = `Sends twin-get for the device to the gateway's down_address and prints the twin from the
twin-get-result. Without --gateway, first watches up_address for a message about the device to
learn its gateway. --wait bounds all of it.
`

const setHelp = `Sends twin-desired with the given properties and prints the twin-desired-result. Values that
are numbers (JSON syntax) or true/false are sent as such, anything else as a string; quote a
value in double quotes to force a string (volume='"20"'). --version is the desired $version
(default: the current unix time, so that each set is newer than the last).
`

const claimHelp = `Sends claim (MAC and serial; the gateway checks the serial live with the device) and prints
the claim-result.
`

const unclaimHelp = `Sends unclaim for a device, named by --mac or --device, and prints the unclaim-result.
`

const methodHelp = `Invokes method NAME on the device with the given arguments (key=value, typed as for set) and
prints the method-result.
`

const logsHelp = `Asks the gateway for its recent log lines and audit entries (logs-upload) and prints the
reply. A gateway keeps its newest log lines in memory and sends them only when asked; the answer
is bounded (256 KiB of log lines), newest first kept.
`

const countHelp = `Reads up_address until --timeout passes without a message of the gateway, then prints how
many unique message-ids it saw, how many duplicates, and the unique ids per kind. Messages of
other gateways are consumed and not counted. With --expect N, exit 1 if fewer than N unique
ids were seen (loss tests). Interrupted, it prints what it has counted.
`

func tailVerb(fs *flag.FlagSet) prepare {
	gw := fs.String("gateway", "", "print only this gateway's messages")
	kind := fs.String("kind", "", "print only messages of this kind (telemetry, twin-reported, health, ...)")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	count := fs.Int("count", 0, "stop after this many printed messages (0 = no limit)")
	timeout := fs.Duration("timeout", 0, "stop after this long without a printed message (0 = never)")
	return func(args []string) (action, error) {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q", args[0])
		}
		if *count < 0 {
			return nil, usagef("--count must not be negative")
		}
		if *timeout < 0 {
			return nil, usagef("--timeout must not be negative")
		}
		return func(ctx context.Context, c *console) error {
			return follow(ctx, c, *count, *timeout, "tail: no matching message", func(env protocol.Envelope) (bool, error) {
				if (*gw != "" && env.GatewayID != *gw) || (*kind != "" && env.Kind != *kind) {
					return false, nil
				}
				if *asJSON {
					return true, printJSONLine(c.stdout, env)
				}
				return true, printLine(c.stdout, env)
			})
		}, nil
	}
}

// follow reads messages and hands each to show, which says whether it printed it, until count are
// printed (0: no limit), timeout passes without one (an error when none at all was: exit 1), or ctx
// ends (interrupted: a normal way to stop).
func follow(ctx context.Context, c *console, count int, timeout time.Duration, what string, show func(protocol.Envelope) (bool, error)) error {
	printed := 0
	for count == 0 || printed < count {
		wctx, cancel := withOptionalTimeout(ctx, timeout)
		env, err := c.next(wctx)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			if printed == 0 {
				return failure{fmt.Sprintf("edgegw-console %s within %s", what, timeout)}
			}
			return nil
		default:
			return err
		}
		shown, err := show(env)
		if err != nil {
			return err
		}
		if shown {
			printed++
		}
	}
	return nil
}

func withOptionalTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// printLine writes the one-line form of a message.
func printLine(w io.Writer, e protocol.Envelope) error {
	created := "-"
	if !e.Created.IsZero() {
		created = e.Created.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	device := e.DeviceID
	if device == "" {
		device = "-"
	}
	id := e.MessageID
	if id == "" {
		id = "-"
	}
	re := ""
	if e.CorrelationID != "" {
		re = " re=" + e.CorrelationID
	}
	body := shortBody(e.Body, 160)
	if e.Kind == protocol.KindTelemetryBatch {
		body = batchSummary(e.Body)
	}
	_, err := fmt.Fprintf(w, "%s %s %s %s %s%s %s\n", created, orDash(e.GatewayID), device, e.Kind, id, re, body)
	return err
}

// batchSummary says what a telemetry-batch holds: how many readings of how many devices, over what
// time (its readings are printed in full with --json).
func batchSummary(body []byte) string {
	var b protocol.TelemetryBatch
	if err := json.Unmarshal(body, &b); err != nil || len(b.Readings) == 0 {
		return shortBody(body, 160)
	}
	devices := map[string]bool{}
	for _, r := range b.Readings {
		devices[r.DeviceID] = true
	}
	first, last := b.Readings[0].Time, b.Readings[len(b.Readings)-1].Time
	return fmt.Sprintf("%d readings of %d devices, %s..%s, first %s %s", len(b.Readings), len(devices),
		first.UTC().Format("15:04:05.000"), last.UTC().Format("15:04:05.000"), b.Readings[0].DeviceID,
		shortBody(mustJSON(b.Readings[0].Values), 100))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortBody is the body on one line: compacted JSON, or quoted text if it is not JSON, cut at max.
func shortBody(body []byte, max int) string {
	var b bytes.Buffer
	s := ""
	if err := json.Compact(&b, body); err == nil {
		s = b.String()
	} else {
		s = strconv.Quote(string(body))
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// jsonMessage is tail --json's line.
type jsonMessage struct {
	Kind          string          `json:"kind"`
	GatewayID     string          `json:"gatewayId"`
	DeviceID      string          `json:"deviceId,omitempty"`
	MessageID     string          `json:"messageId"`
	CorrelationID string          `json:"correlationId,omitempty"`
	Created       time.Time       `json:"created,omitzero"`
	Body          json.RawMessage `json:"body"`
}

func printJSONLine(w io.Writer, e protocol.Envelope) error {
	m := jsonMessage{Kind: e.Kind, GatewayID: e.GatewayID, DeviceID: e.DeviceID, MessageID: e.MessageID,
		CorrelationID: e.CorrelationID, Created: e.Created.UTC(), Body: e.Body}
	if e.Created.IsZero() {
		m.Created = time.Time{}
	}
	var b bytes.Buffer
	if len(bytes.TrimSpace(e.Body)) == 0 {
		m.Body = json.RawMessage("null")
	} else if err := json.Compact(&b, e.Body); err == nil {
		m.Body = b.Bytes()
	} else {
		q, _ := json.Marshal(string(e.Body)) // not JSON: carried as a string
		m.Body = q
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

func healthVerb(fs *flag.FlagSet) prepare {
	gw := fs.String("gateway", "", "the gateway (required)")
	wait := fs.Duration("wait", defaultWait, "how long to wait for a health message")
	asJSON := fs.Bool("json", false, "print the health message's body as JSON on one line")
	return func(args []string) (action, error) {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q", args[0])
		}
		if err := need("gateway", *gw); err != nil {
			return nil, err
		}
		if *wait <= 0 {
			return nil, usagef("--wait must be positive")
		}
		return func(ctx context.Context, c *console) error {
			wctx, cancel := context.WithTimeout(ctx, *wait)
			defer cancel()
			for {
				env, err := c.next(wctx)
				if err != nil {
					if isTimeout(ctx, err) {
						return failure{fmt.Sprintf("edgegw-console health: no health message from gateway %s within %s", *gw, *wait)}
					}
					return interrupted(ctx, err)
				}
				if env.Kind != protocol.KindHealth || env.GatewayID != *gw {
					continue
				}
				if *asJSON {
					var b bytes.Buffer
					if err := json.Compact(&b, env.Body); err != nil {
						return fmt.Errorf("the health message from %s is not JSON: %v", *gw, err)
					}
					_, err := fmt.Fprintln(c.stdout, b.String())
					return err
				}
				return printHealth(c.stdout, env)
			}
		}, nil
	}
}

func printHealth(w io.Writer, env protocol.Envelope) error {
	var h protocol.Health
	if err := json.Unmarshal(env.Body, &h); err != nil {
		return fmt.Errorf("the health message from %s is not a health body: %v", env.GatewayID, err)
	}
	at := h.GeneratedAtUTC
	if at.IsZero() {
		at = env.Created
	}
	var b strings.Builder
	p := func(k, format string, a ...any) { fmt.Fprintf(&b, "%-10s %s\n", k, fmt.Sprintf(format, a...)) }
	p("gateway", "%s", orDash(env.GatewayID))
	p("time", "%s", at.UTC().Format(time.RFC3339))
	p("version", "%s", orDash(h.Version))
	p("uptime", "%s", (time.Duration(h.UptimeSeconds) * time.Second).String())
	up := fmt.Sprintf("%s, %d reconnects", orDash(h.Uplink.State), h.Uplink.Reconnects)
	if h.Uplink.LastError != "" {
		up += ", last error: " + h.Uplink.LastError
	}
	p("uplink", "%s", up)
	p("cloud", "%s", map[bool]string{true: "enabled", false: "disabled"}[h.CloudEnabled])
	p("outbox", "%d pending, %d in flight, %d bytes, %d dropped, %d dead-lettered",
		h.Outbox.Pending, h.Outbox.InFlight, h.Outbox.Bytes, h.Outbox.Dropped, h.Outbox.DeadLettered)
	p("devices", "%d discovered, %d claimed, %d online", h.Devices.Discovered, h.Devices.Claimed, h.Devices.Online)
	p("polls", "%d, %d errors", h.Polls, h.PollErrors)
	last := "never"
	if !h.LastDiscovery.IsZero() {
		last = h.LastDiscovery.UTC().Format(time.RFC3339)
	}
	p("discovery", "%d passes, last %s", h.DiscoveryPass, last)
	_, err := io.WriteString(w, b.String())
	return err
}

// commandFlags are the flags every command verb has.
type commandFlags struct {
	gateway, device *string
	wait            *time.Duration
}

func addCommandFlags(fs *flag.FlagSet, gatewayRequired bool) commandFlags {
	gwHelp := "the gateway (default: learned from up_address, from a message about --device)"
	if gatewayRequired {
		gwHelp = "the gateway (required)"
	}
	return commandFlags{
		gateway: fs.String("gateway", "", gwHelp),
		wait:    fs.Duration("wait", defaultWait, "how long to wait for the reply, learning the gateway included"),
	}
}

func (f commandFlags) check() error {
	if *f.wait <= 0 {
		return usagef("--wait must be positive")
	}
	return nil
}

func twinVerb(fs *flag.FlagSet) prepare {
	cf := addCommandFlags(fs, false)
	device := fs.String("device", "", "the device id, like mac-001122aabbcc (required)")
	return func(args []string) (action, error) {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q", args[0])
		}
		if err := errors.Join(need("device", *device), cf.check()); err != nil {
			return nil, firstUsage(err)
		}
		return func(ctx context.Context, c *console) error {
			return c.command(ctx, *cf.wait, *cf.gateway, *device, gateway.TwinGetCommand{DeviceID: *device})
		}, nil
	}
}

func setVerb(fs *flag.FlagSet) prepare {
	cf := addCommandFlags(fs, false)
	device := fs.String("device", "", "the device id (required)")
	version := fs.Int64("version", 0, "the desired $version (default: the current unix time)")
	return func(args []string) (action, error) {
		if err := errors.Join(need("device", *device), cf.check()); err != nil {
			return nil, firstUsage(err)
		}
		if len(args) == 0 {
			return nil, usagef("give at least one key=value")
		}
		desired, err := parseValues(args)
		if err != nil {
			return nil, err
		}
		if *version < 0 {
			return nil, usagef("--version must be positive")
		}
		return func(ctx context.Context, c *console) error {
			v := *version
			if v == 0 {
				v = time.Now().Unix()
			}
			return c.command(ctx, *cf.wait, *cf.gateway, *device, gateway.DesiredCommand{DeviceID: *device, Version: v, Desired: desired})
		}, nil
	}
}

func claimVerb(fs *flag.FlagSet) prepare {
	cf := addCommandFlags(fs, true)
	mac := fs.String("mac", "", "the device's MAC address (required)")
	serial := fs.String("serial", "", "the device's serial number (required)")
	group := fs.String("group", "", "the group to put the device in (default: the gateway's, \"Unassociated Devices\")")
	return func(args []string) (action, error) {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q", args[0])
		}
		if err := errors.Join(need("gateway", *cf.gateway), need("mac", *mac), need("serial", *serial), cf.check()); err != nil {
			return nil, firstUsage(err)
		}
		m, err := protocol.NormalizeMAC(*mac)
		if err != nil {
			return nil, usagef("--mac: %v", err)
		}
		return func(ctx context.Context, c *console) error {
			return c.command(ctx, *cf.wait, *cf.gateway, "", gateway.ClaimCommand{MAC: m, Serial: *serial, Group: *group})
		}, nil
	}
}

func unclaimVerb(fs *flag.FlagSet) prepare {
	cf := addCommandFlags(fs, true)
	mac := fs.String("mac", "", "the device's MAC address")
	device := fs.String("device", "", "the device id")
	return func(args []string) (action, error) {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q", args[0])
		}
		if err := errors.Join(need("gateway", *cf.gateway), cf.check()); err != nil {
			return nil, firstUsage(err)
		}
		if (*mac == "") == (*device == "") {
			return nil, usagef("give --mac or --device, one of them")
		}
		cmd := gateway.UnclaimCommand{DeviceID: *device}
		if *mac != "" {
			m, err := protocol.NormalizeMAC(*mac)
			if err != nil {
				return nil, usagef("--mac: %v", err)
			}
			cmd.MAC = m
		}
		return func(ctx context.Context, c *console) error {
			return c.command(ctx, *cf.wait, *cf.gateway, *device, cmd)
		}, nil
	}
}

func methodVerb(fs *flag.FlagSet) prepare {
	cf := addCommandFlags(fs, false)
	device := fs.String("device", "", "the device id (required)")
	return func(args []string) (action, error) {
		if err := errors.Join(need("device", *device), cf.check()); err != nil {
			return nil, firstUsage(err)
		}
		if len(args) == 0 {
			return nil, usagef("give the method NAME")
		}
		name := args[0]
		if strings.Contains(name, "=") {
			return nil, usagef("the method NAME comes before its key=value arguments, got %q", name)
		}
		var margs map[string]gateway.Value
		if len(args) > 1 {
			var err error
			if margs, err = parseValues(args[1:]); err != nil {
				return nil, err
			}
		}
		return func(ctx context.Context, c *console) error {
			return c.command(ctx, *cf.wait, *cf.gateway, *device, gateway.MethodCommand{DeviceID: *device, Name: name, Args: margs})
		}, nil
	}
}

func logsVerb(fs *flag.FlagSet) prepare {
	cf := addCommandFlags(fs, true)
	since := fs.Duration("since", time.Hour, "how far back")
	lines := fs.Int("lines", 500, "at most this many log lines and audit entries (the newest)")
	return func(args []string) (action, error) {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q", args[0])
		}
		if err := errors.Join(need("gateway", *cf.gateway), cf.check()); err != nil {
			return nil, firstUsage(err)
		}
		if *since <= 0 || *lines <= 0 || *lines > 100000 {
			return nil, usagef("--since must be positive and --lines 1 to 100000")
		}
		return func(ctx context.Context, c *console) error {
			return c.command(ctx, *cf.wait, *cf.gateway, "",
				gateway.LogsUploadCommand{Since: time.Now().Add(-*since).UTC(), MaxLines: *lines})
		}, nil
	}
}

// firstUsage returns the first usage error of a join.
func firstUsage(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
		return j.Unwrap()[0]
	}
	return err
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// parseValues reads key=value arguments: JSON numbers and true/false are typed, "quoted" is a string
// without its quotes, anything else a string.
func parseValues(args []string) (map[string]gateway.Value, error) {
	out := map[string]gateway.Value{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usagef("%q is not key=value", a)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("%s is given twice", k)
		}
		out[k] = parseValue(v)
	}
	return out, nil
}

func parseValue(v string) gateway.Value {
	switch {
	case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
		return gateway.String(v[1 : len(v)-1])
	case v == "true":
		return gateway.Bool(true)
	case v == "false":
		return gateway.Bool(false)
	case jsonNumber.MatchString(v):
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return gateway.Number(f)
		}
	}
	return gateway.String(v)
}

func countVerb(fs *flag.FlagSet) prepare {
	gw := fs.String("gateway", "", "the gateway (required)")
	timeout := fs.Duration("timeout", 10*time.Second, "stop after this long without a message of the gateway")
	expect := fs.Int("expect", -1, "exit 1 if fewer unique message-ids than this were seen (-1 = no check)")
	asJSON := fs.Bool("json", false, "print the counts as one JSON object")
	return func(args []string) (action, error) {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q", args[0])
		}
		if err := need("gateway", *gw); err != nil {
			return nil, err
		}
		if *timeout <= 0 {
			return nil, usagef("--timeout must be positive")
		}
		return func(ctx context.Context, c *console) error {
			t := tally{GatewayID: *gw, Kinds: map[string]int{}, seen: map[string]bool{}}
			var runErr error
			for {
				wctx, cancel := context.WithTimeout(ctx, *timeout)
				env, err := c.next(wctx)
				cancel()
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
						runErr = err // the connection failed: report what was counted, then fail
					}
					break
				}
				if env.GatewayID == *gw {
					t.add(env)
				}
			}
			if err := t.print(c.stdout, *asJSON); err != nil {
				return err
			}
			if runErr != nil {
				return runErr
			}
			if *expect >= 0 && t.Unique < *expect {
				return failure{fmt.Sprintf("edgegw-console count: %d unique message-ids from gateway %s, expected at least %d (%d missing)",
					t.Unique, *gw, *expect, *expect-t.Unique)}
			}
			return nil
		}, nil
	}
}

// tally is what count saw.
type tally struct {
	GatewayID  string         `json:"gatewayId"`
	Unique     int            `json:"unique"`
	Duplicates int            `json:"duplicates"`
	Messages   int            `json:"messages"`
	WithoutID  int            `json:"withoutId"`
	Kinds      map[string]int `json:"kinds"` // unique ids per kind
	// Readings counts device polls delivered: one per telemetry message, one per reading of a
	// telemetry-batch.
	Readings int `json:"readings"`
	seen     map[string]bool
}

func (t *tally) add(e protocol.Envelope) {
	t.Messages++
	switch {
	case e.MessageID == "":
		t.WithoutID++
	case t.seen[e.MessageID]:
		t.Duplicates++
	default:
		t.seen[e.MessageID] = true
		t.Unique++
		t.Kinds[e.Kind]++
		switch e.Kind {
		case protocol.KindTelemetry:
			t.Readings++
		case protocol.KindTelemetryBatch:
			var b protocol.TelemetryBatch
			if json.Unmarshal(e.Body, &b) == nil {
				t.Readings += len(b.Readings)
			}
		}
	}
}

func (t *tally) print(w io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "gateway %s: %d unique, %d duplicates, %d messages", t.GatewayID, t.Unique, t.Duplicates, t.Messages)
	if t.Kinds[protocol.KindTelemetryBatch] > 0 {
		fmt.Fprintf(&b, ", %d readings", t.Readings)
	}
	if t.WithoutID > 0 {
		fmt.Fprintf(&b, ", %d without a message-id", t.WithoutID)
	}
	b.WriteString("\n")
	for _, k := range slices.Sorted(maps.Keys(t.Kinds)) {
		fmt.Fprintf(&b, "  %-16s %d\n", k, t.Kinds[k])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

const eventsHelp = `Prints the event messages arriving on up_address, one line each: the event's time (UTC),
gateway-id, device-id, severity, name (with [instance]), "active" while the condition it raised
lasts, "clears=" and the conditions it ended, the trap OID and the sender. With --json, the event
object, one per line. Other messages are consumed but not printed. --count and --timeout stop it
as for tail.
`

func eventsVerb(fs *flag.FlagSet) prepare {
	gw := fs.String("gateway", "", "print only this gateway's events")
	dev := fs.String("device", "", "print only this device's events")
	asJSON := fs.Bool("json", false, "one JSON event per line")
	count := fs.Int("count", 0, "stop after this many printed events (0 = no limit)")
	timeout := fs.Duration("timeout", 0, "stop after this long without a printed event (0 = never)")
	return func(args []string) (action, error) {
		if len(args) > 0 {
			return nil, usagef("unexpected argument %q", args[0])
		}
		if *count < 0 || *timeout < 0 {
			return nil, usagef("--count and --timeout must not be negative")
		}
		return func(ctx context.Context, c *console) error {
			return follow(ctx, c, *count, *timeout, "events: no event", func(env protocol.Envelope) (bool, error) {
				if env.Kind != protocol.KindEvent || (*gw != "" && env.GatewayID != *gw) || (*dev != "" && env.DeviceID != *dev) {
					return false, nil
				}
				var b protocol.Event
				if err := json.Unmarshal(env.Body, &b); err != nil {
					fmt.Fprintf(c.stderr, "edgegw-console events: message %s: %v\n", env.MessageID, err)
					return false, nil
				}
				if !*asJSON {
					printEvent(c.stdout, env.GatewayID, b.Event)
					return true, nil
				}
				line, err := json.Marshal(b.Event)
				if err != nil {
					return false, err
				}
				_, err = fmt.Fprintf(c.stdout, "%s\n", line)
				return true, err
			})
		}, nil
	}
}

// printEvent writes the one-line form of an event.
func printEvent(w io.Writer, gatewayID string, e gateway.Event) {
	name := e.Name
	if e.Instance != "" {
		name += "[" + e.Instance + "]"
	}
	var extra []string
	if e.Active {
		extra = append(extra, "active")
	}
	if len(e.Clears) > 0 {
		extra = append(extra, "clears="+strings.Join(e.Clears, ","))
	}
	fmt.Fprintf(w, "%s %s %s %-8s %s %s trap=%s from=%s\n", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), orDash(gatewayID),
		orDash(e.DeviceID), e.Severity, name, orDash(strings.Join(extra, " ")), orDash(e.TrapOID), orDash(e.Source))
}
