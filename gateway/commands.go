package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Command is a request from the cloud, decoded and validated by the uplink. One of the *Command types.
type Command interface {
	// Kind is the wire name of the command ("claim", "twin-desired", ...).
	Kind() string
}

// ClaimCommand asks to claim the device with MAC whose serial is Serial (checked live with the device).
type ClaimCommand struct {
	MAC, Serial, Group string
}

// ClaimManyCommand claims many devices in one command (a claim body with a "claims" list): carried
// out as a CSV import is (ClaimManyProgress), one reply with every row's outcome. Bad holds the rows
// the uplink could not read (index in the list → why, naming the row): like bad lines of a CSV they are
// reported and skipped, and the good rows are carried out. Rows holds the good ones, Line their index.
type ClaimManyCommand struct {
	Rows []ClaimRow
	Bad  map[int]BadClaimRow
}

// BadClaimRow is a row of a bulk claim that could not be read: the MAC as sent (cut short) and why.
type BadClaimRow struct {
	MAC, Error string
}

// ClaimManyResult is the reply to a ClaimManyCommand: one outcome per row, in order.
type ClaimManyResult struct {
	Results []ClaimRowResult `json:"results"`
}

// ClaimRowResult is one row's outcome in a ClaimManyResult.
type ClaimRowResult struct {
	MAC       string `json:"mac"`
	State     string `json:"state,omitempty"`
	Reason    string `json:"reason,omitempty"`
	DeviceID  string `json:"deviceId,omitempty"`
	Unchanged bool   `json:"unchanged,omitempty"`
	// NotDone: the command was cut short before this row (the gateway stopping); nothing of it was
	// recorded. Send it again.
	NotDone bool `json:"notDone,omitempty"`
	// NotStored: the state store could not take the row (a full disk); nothing of it is in effect.
	NotStored bool   `json:"notStored,omitempty"`
	Error     string `json:"error,omitempty"`
}

// UnclaimCommand releases a claimed device, named by MAC or device id.
type UnclaimCommand struct {
	MAC, DeviceID string
}

// DesiredCommand is a twin-desired patch: settings the cloud wants, at desired version Version.
type DesiredCommand struct {
	DeviceID string
	Version  int64
	Desired  map[string]Value
}

// MethodCommand invokes a profile method on a device.
type MethodCommand struct {
	DeviceID, Name string
	Args           map[string]Value
}

// TwinGetCommand asks for a device's whole twin.
type TwinGetCommand struct {
	DeviceID string
}

// LogsUploadCommand asks for recent logs.
type LogsUploadCommand struct {
	Since    time.Time
	MaxLines int
}

func (ClaimCommand) Kind() string      { return "claim" }
func (ClaimManyCommand) Kind() string  { return "claim" }
func (UnclaimCommand) Kind() string    { return "unclaim" }
func (DesiredCommand) Kind() string    { return "twin-desired" }
func (MethodCommand) Kind() string     { return "method" }
func (TwinGetCommand) Kind() string    { return "twin-get" }
func (LogsUploadCommand) Kind() string { return "logs-upload" }

// CommandHandler carries out cloud commands. The result is any JSON-encodable value (a twin, a claim
// state); an error becomes the reply's error text, so it must read well to an operator and hold no
// secret.
type CommandHandler interface {
	HandleCommand(ctx context.Context, cmd Command) (any, error)
}

// ErrNotSupported is a command this gateway version cannot carry out yet.
var ErrNotSupported = errors.New("not supported by this gateway version")

// ErrNoDevice is a command for a device the gateway does not know.
var ErrNoDevice = errors.New("no such device")

var _ CommandHandler = (*Gateway)(nil)

// HandleCommand carries out cloud commands: twin-get, claim, unclaim, twin-desired, method. Log uploads
// are answered by the daemon, which holds the logs (see LogsHandler).
func (g *Gateway) HandleCommand(ctx context.Context, cmd Command) (any, error) {
	switch c := cmd.(type) {
	case ClaimCommand:
		cl, err := g.Claim(ctx, c.MAC, c.Serial, c.Group, "cloud")
		if err != nil {
			return nil, err
		}
		if cl.State == ClaimRejected {
			return cl, fmt.Errorf("claim rejected: %s", cl.Reason)
		}
		return cl, nil
	case ClaimManyCommand:
		res := g.ClaimMany(ctx, c.Rows, "cloud")
		out := ClaimManyResult{Results: make([]ClaimRowResult, len(c.Rows)+len(c.Bad))}
		for i, r := range res { // one per row
			row := ClaimRowResult{MAC: r.Claim.MAC, State: r.Claim.State, Reason: r.Claim.Reason,
				DeviceID: r.Claim.DeviceID, Unchanged: r.Unchanged, NotDone: r.NotDone, NotStored: r.NotStored, Error: r.Error}
			if row.MAC == "" {
				row.MAC = c.Rows[i].MAC
			}
			if at := c.Rows[i].Line; at >= 0 && at < len(out.Results) { // the row's place in the list
				out.Results[at] = row
			}
		}
		for at, b := range c.Bad {
			if at >= 0 && at < len(out.Results) {
				out.Results[at] = ClaimRowResult{MAC: b.MAC, Error: b.Error}
			}
		}
		return out, nil
	case DesiredCommand:
		return g.ApplyDesired(ctx, c, "cloud")
	case UnclaimCommand:
		key := c.MAC
		if key == "" {
			key = c.DeviceID
		}
		return g.Unclaim(key, "cloud")
	case MethodCommand:
		return g.InvokeMethod(ctx, c, "cloud")
	case TwinGetCommand:
		t, ok := g.Twin(c.DeviceID)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoDevice, c.DeviceID)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s: %w", cmd.Kind(), ErrNotSupported)
}
