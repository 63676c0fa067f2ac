// Package protocol is edgegw's wire protocol on the AMQP uplink (docs/uplink-protocol.md): message kinds,
// application properties, JSON bodies, and the decoder of cloud commands. The gateway's uplink and
// edgegw-console both use it, so the two sides cannot drift apart.
package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/go-amqp"

	"github.com/edgegw/edgegw/gateway"
)

// SchemaVersion is the version of every JSON body this package writes; readers refuse a newer major.
const SchemaVersion = 1

// Application property names.
const (
	PropGatewayID = "gateway-id"
	PropDeviceID  = "device-id"
	PropKind      = "kind"
)

// ContentType of every body.
const ContentType = "application/json"

// Kinds that go up (gateway to cloud).
const (
	KindTelemetry = "telemetry"
	// KindTelemetryBatch carries many devices' polls at once (cloud.telemetry_batch).
	KindTelemetryBatch = "telemetry-batch"
	KindTwinReported   = "twin-reported"
	KindTwinFull       = "twin-full"
	KindEvent          = "event"
	KindAudit          = "audit"
	KindHealth         = "health"
)

// Kinds that come down (cloud to gateway). Each is answered by a message of kind <kind>-result.
const (
	KindClaim       = "claim"
	KindUnclaim     = "unclaim"
	KindTwinDesired = "twin-desired"
	KindMethod      = "method"
	KindTwinGet     = "twin-get"
	KindLogsUpload  = "logs-upload"
)

// ResultKind is the kind of the reply to a command kind.
func ResultKind(kind string) string { return kind + "-result" }

// MaxCommandBytes caps a command body: nothing the cloud legitimately sends is bigger.
const MaxCommandBytes = 64 << 10

// Envelope is one message with its properties, independent of AMQP.
type Envelope struct {
	Kind          string
	GatewayID     string
	DeviceID      string // "" for gateway-level messages
	MessageID     string
	CorrelationID string // on replies: the command's MessageID
	Created       time.Time
	Body          []byte // JSON
}

// AMQP builds the AMQP message: message-id, correlation-id, content-type, creation-time in the properties;
// gateway-id, device-id (when set) and kind in the application properties; the body as one data section.
func (e Envelope) AMQP() *amqp.Message {
	m := amqp.NewMessage(e.Body)
	m.Properties = &amqp.MessageProperties{
		MessageID:    e.MessageID,
		ContentType:  ptr(ContentType),
		CreationTime: ptr(e.Created.UTC()),
	}
	if e.CorrelationID != "" {
		m.Properties.CorrelationID = e.CorrelationID
	}
	m.ApplicationProperties = map[string]any{PropGatewayID: e.GatewayID, PropKind: e.Kind}
	if e.DeviceID != "" {
		m.ApplicationProperties[PropDeviceID] = e.DeviceID
	}
	m.Header = &amqp.MessageHeader{Durable: true}
	return m
}

func ptr[T any](v T) *T { return &v }

// FromAMQP reads an envelope back. It checks the shape, not the body. When the shape is wrong it still
// returns every field it could read, the message-id first, so that even a reply to a malformed command
// can name the command it answers.
func FromAMQP(m *amqp.Message) (Envelope, error) {
	var e Envelope
	if m == nil {
		return e, errors.New("empty message")
	}
	if p := m.Properties; p != nil {
		e.MessageID = idString(p.MessageID)
		e.CorrelationID = idString(p.CorrelationID)
		if p.CreationTime != nil {
			e.Created = *p.CreationTime
		}
	}
	for _, d := range m.Data {
		e.Body = append(e.Body, d...)
	}
	if len(m.Data) == 0 && m.Value != nil {
		if s, ok := m.Value.(string); ok {
			e.Body = []byte(s)
		}
	}
	var first error
	str := func(k string) string {
		v, ok := m.ApplicationProperties[k]
		if !ok || v == nil {
			return ""
		}
		s, ok := v.(string)
		if !ok && first == nil {
			first = fmt.Errorf("application property %s is %T, not a string", k, v)
		}
		return s
	}
	e.Kind = str(PropKind)
	e.GatewayID = str(PropGatewayID)
	e.DeviceID = str(PropDeviceID)
	if first == nil && e.Kind == "" {
		first = errors.New("no kind application property")
	}
	return e, first
}

// idString turns an AMQP message-id (string, uuid, binary or ulong) into text.
func idString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return fmt.Sprintf("%x", x)
	case amqp.UUID:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// Result is the body of every *-result reply.
type Result struct {
	SchemaVersion int             `json:"schemaVersion"`
	OK            bool            `json:"ok"`
	Error         string          `json:"error,omitempty"`
	Result        json.RawMessage `json:"result,omitempty"`
}

// TwinReported is the body of a twin-reported message: only what changed.
type TwinReported struct {
	SchemaVersion int                      `json:"schemaVersion"`
	DeviceID      string                   `json:"deviceId"`
	Version       int64                    `json:"$version"`
	Reported      map[string]gateway.Value `json:"reported"`
}

// Telemetry is the body of a telemetry message: every value read by one poll, with its time.
type Telemetry struct {
	SchemaVersion int                      `json:"schemaVersion"`
	DeviceID      string                   `json:"deviceId"`
	Time          time.Time                `json:"time"`
	Values        map[string]gateway.Value `json:"values"`
}

// TelemetryBatch is the body of a telemetry-batch message: the polls of many devices over a short
// time, each as a telemetry body would carry it, oldest first.
type TelemetryBatch struct {
	SchemaVersion int         `json:"schemaVersion"`
	Readings      []Telemetry `json:"readings"`
}

// Audit is the body of an audit message: one entry of the gateway's audit log.
type Audit struct {
	SchemaVersion int                `json:"schemaVersion"`
	Entry         gateway.AuditEntry `json:"entry"`
}

// Event is the body of an event message: one thing a device reported on its own (an SNMP trap or
// inform), named by the device's profile (docs/traps.md).
type Event struct {
	SchemaVersion int           `json:"schemaVersion"`
	Event         gateway.Event `json:"event"`
}

// TwinFull is the body of a twin-full message (on request, and when a device is first sent up).
type TwinFull struct {
	SchemaVersion int          `json:"schemaVersion"`
	Twin          gateway.Twin `json:"twin"`
}

// Health is the body of a health message and the gateway's own twin.
type Health struct {
	SchemaVersion  int       `json:"schemaVersion"`
	GatewayID      string    `json:"gatewayId"`
	Version        string    `json:"version"`
	UptimeSeconds  float64   `json:"uptimeSeconds"`
	Uplink         Uplink    `json:"uplink"`
	Outbox         Outbox    `json:"outbox"`
	Store          Store     `json:"store"`
	Process        Process   `json:"process"`
	Devices        Devices   `json:"devices"`
	Polls          int       `json:"polls"`
	PollErrors     int       `json:"pollErrors"`
	PollsLate      int       `json:"pollsLate"`
	LastDiscovery  time.Time `json:"lastDiscovery,omitzero"`
	DiscoveryPass  int       `json:"discoveryPasses"`
	CloudEnabled   bool      `json:"cloudEnabled"`
	GeneratedAtUTC time.Time `json:"time"`
}

// Uplink is the connection's state in a health message.
type Uplink struct {
	State string `json:"state"` // "connected", "connecting", "disabled"
	// Since is when State last changed.
	Since      time.Time `json:"since,omitzero"`
	Reconnects int       `json:"reconnects"`
	LastError  string    `json:"lastError,omitempty"`
}

// Outbox is the outbox's state in a health message.
type Outbox struct {
	Pending      int   `json:"pending"`
	InFlight     int   `json:"inFlight"`
	Bytes        int64 `json:"bytes"`
	Dropped      int64 `json:"dropped"`
	DeadLettered int64 `json:"deadLettered"`
}

// Store is the state store's health in a health message: "ok", "full" (the disk has no room: new
// claims, settings and methods are refused, polling goes on, and what waits goes up once there is
// room) or "failing" (another write error), since when and why.
type Store struct {
	State     string    `json:"state"`
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"lastError,omitempty"`
}

// Process is the gateway process's use of the machine in a health message: what a leak would grow.
type Process struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heapBytes"`           // live heap after the last collection
	OpenFiles  int    `json:"openFiles,omitempty"` // file descriptors (sockets included), where the OS tells
}

// Devices counts the inventory in a health message.
type Devices struct {
	Discovered int `json:"discovered"`
	Claimed    int `json:"claimed"`
	Online     int `json:"online"`
}

// Wire forms of the commands.
type (
	claimBody struct {
		SchemaVersion int        `json:"schemaVersion"`
		MAC           string     `json:"mac,omitempty"`
		Serial        string     `json:"serial,omitempty"`
		Group         string     `json:"group,omitempty"`
		Claims        []claimRow `json:"claims,omitempty"`
	}
	claimRow struct {
		MAC    string `json:"mac"`
		Serial string `json:"serial"`
		Group  string `json:"group,omitempty"`
	}
	unclaimBody struct {
		SchemaVersion int    `json:"schemaVersion"`
		MAC           string `json:"mac,omitempty"`
		DeviceID      string `json:"deviceId,omitempty"`
	}
	desiredBody struct {
		SchemaVersion int                      `json:"schemaVersion"`
		DeviceID      string                   `json:"deviceId"`
		Version       int64                    `json:"$version"`
		Desired       map[string]gateway.Value `json:"desired"`
	}
	methodBody struct {
		SchemaVersion int                      `json:"schemaVersion"`
		DeviceID      string                   `json:"deviceId"`
		Name          string                   `json:"name"`
		Args          map[string]gateway.Value `json:"args,omitempty"`
	}
	twinGetBody struct {
		SchemaVersion int    `json:"schemaVersion"`
		DeviceID      string `json:"deviceId"`
	}
	logsBody struct {
		SchemaVersion int       `json:"schemaVersion"`
		Since         time.Time `json:"since,omitzero"`
		MaxLines      int       `json:"maxLines,omitempty"`
	}
)

// CommandError is a command that cannot be carried out as sent; its text goes back in the reply.
type CommandError struct{ Msg string }

func (e *CommandError) Error() string { return e.Msg }

func bad(format string, args ...any) error { return &CommandError{Msg: fmt.Sprintf(format, args...)} }

var (
	deviceIDRE = regexp.MustCompile(`^[a-z0-9]+-[0-9a-f]{12}$`)
	propRE     = regexp.MustCompile(`^[a-z][A-Za-z0-9]*(\[[0-9.]+\])?$`)
	methodRE   = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
)

// DecodeCommand validates a down-link message and turns it into a gateway command. Every failure is a
// *CommandError whose text says what is wrong; nothing in it echoes more than a short excerpt.
func DecodeCommand(e Envelope) (gateway.Command, error) {
	if len(e.Body) > MaxCommandBytes {
		return nil, bad("%s: body is %d bytes, more than the %d allowed", e.Kind, len(e.Body), MaxCommandBytes)
	}
	if !utf8.Valid(e.Body) {
		return nil, bad("%s: body is not UTF-8 JSON", e.Kind)
	}
	var v struct {
		SchemaVersion *int `json:"schemaVersion"`
	}
	if err := json.Unmarshal(e.Body, &v); err != nil {
		return nil, bad("%s: body is not a JSON object: %v", e.Kind, shortErr(err))
	}
	if v.SchemaVersion == nil {
		return nil, bad("%s: body has no schemaVersion", e.Kind)
	}
	if *v.SchemaVersion < 1 || *v.SchemaVersion > SchemaVersion {
		return nil, bad("%s: schemaVersion %d is not supported (this gateway speaks %d)", e.Kind, *v.SchemaVersion, SchemaVersion)
	}
	strict := func(dst any) error {
		dec := json.NewDecoder(strings.NewReader(string(e.Body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			return bad("%s: %v", e.Kind, shortErr(err))
		}
		return nil
	}
	device := func(id string) error {
		if id == "" {
			return bad("%s: deviceId is missing", e.Kind)
		}
		if !deviceIDRE.MatchString(id) {
			return bad("%s: deviceId %q is not a device id (like mac-001122aabbcc)", e.Kind, excerpt(id))
		}
		if e.DeviceID != "" && e.DeviceID != id {
			return bad("%s: the device-id property %q and the body's deviceId %q differ", e.Kind, excerpt(e.DeviceID), excerpt(id))
		}
		return nil
	}
	switch e.Kind {
	case KindClaim:
		var b claimBody
		if err := strict(&b); err != nil {
			return nil, err
		}
		if b.Claims != nil {
			if b.MAC != "" || b.Serial != "" || b.Group != "" {
				return nil, bad("claim: give mac and serial, or a claims list, not both")
			}
			if len(b.Claims) == 0 {
				return nil, bad("claim: the claims list is empty")
			}
			// A bad row is reported in its place in the results and skipped, as a bad line of a CSV
			// import is; the others are carried out. A list of nothing but bad rows is refused whole.
			c := gateway.ClaimManyCommand{Rows: make([]gateway.ClaimRow, 0, len(b.Claims))}
			firstBad := ""
			for i, r := range b.Claims {
				row, err := readClaim(r)
				if err != nil {
					why := fmt.Sprintf("claims[%d]: %v", i, err)
					if c.Bad == nil {
						c.Bad = map[int]gateway.BadClaimRow{}
						firstBad = why
					}
					c.Bad[i] = gateway.BadClaimRow{MAC: excerpt(r.MAC), Error: why}
					continue
				}
				row.Line = i
				c.Rows = append(c.Rows, row)
			}
			if len(c.Rows) == 0 {
				return nil, bad("claim: no row of the claims list can be read (%d bad); the first: %s", len(c.Bad), firstBad)
			}
			return c, nil
		}
		row, err := readClaim(claimRow{MAC: b.MAC, Serial: b.Serial, Group: b.Group})
		if err != nil {
			return nil, bad("claim: %v", err)
		}
		return gateway.ClaimCommand{MAC: row.MAC, Serial: row.Serial, Group: row.Group}, nil
	case KindUnclaim:
		var b unclaimBody
		if err := strict(&b); err != nil {
			return nil, err
		}
		switch {
		case b.MAC != "" && b.DeviceID != "":
			return nil, bad("unclaim: give mac or deviceId, not both")
		case b.MAC != "":
			mac, err := NormalizeMAC(b.MAC)
			if err != nil {
				return nil, bad("unclaim: %v", err)
			}
			return gateway.UnclaimCommand{MAC: mac}, nil
		default:
			if err := device(b.DeviceID); err != nil {
				return nil, err
			}
			return gateway.UnclaimCommand{DeviceID: b.DeviceID}, nil
		}
	case KindTwinDesired:
		var b desiredBody
		if err := strict(&b); err != nil {
			return nil, err
		}
		if err := device(b.DeviceID); err != nil {
			return nil, err
		}
		if b.Version < 1 {
			return nil, bad("twin-desired: $version must be a positive integer")
		}
		if len(b.Desired) == 0 {
			return nil, bad("twin-desired: desired is empty")
		}
		for k := range b.Desired {
			if !propRE.MatchString(k) {
				return nil, bad("twin-desired: %q is not a property name", excerpt(k))
			}
		}
		return gateway.DesiredCommand{DeviceID: b.DeviceID, Version: b.Version, Desired: b.Desired}, nil
	case KindMethod:
		var b methodBody
		if err := strict(&b); err != nil {
			return nil, err
		}
		if err := device(b.DeviceID); err != nil {
			return nil, err
		}
		if !methodRE.MatchString(b.Name) {
			return nil, bad("method: %q is not a method name", excerpt(b.Name))
		}
		return gateway.MethodCommand{DeviceID: b.DeviceID, Name: b.Name, Args: b.Args}, nil
	case KindTwinGet:
		var b twinGetBody
		if err := strict(&b); err != nil {
			return nil, err
		}
		if err := device(b.DeviceID); err != nil {
			return nil, err
		}
		return gateway.TwinGetCommand{DeviceID: b.DeviceID}, nil
	case KindLogsUpload:
		var b logsBody
		if err := strict(&b); err != nil {
			return nil, err
		}
		if b.MaxLines < 0 || b.MaxLines > 100000 {
			return nil, bad("logs-upload: maxLines must be 0 to 100000")
		}
		return gateway.LogsUploadCommand{Since: b.Since, MaxLines: b.MaxLines}, nil
	}
	return nil, bad("unknown command kind %q", excerpt(e.Kind))
}

// EncodeCommand is DecodeCommand's inverse, for the cloud side (edgegw-console) and tests.
func EncodeCommand(c gateway.Command) ([]byte, error) {
	switch c := c.(type) {
	case gateway.ClaimCommand:
		return json.Marshal(claimBody{SchemaVersion: SchemaVersion, MAC: c.MAC, Serial: c.Serial, Group: c.Group})
	case gateway.ClaimManyCommand:
		b := claimBody{SchemaVersion: SchemaVersion, Claims: make([]claimRow, len(c.Rows))}
		for i, r := range c.Rows {
			b.Claims[i] = claimRow{r.MAC, r.Serial, r.Group}
		}
		return json.Marshal(b)
	case gateway.UnclaimCommand:
		return json.Marshal(unclaimBody{SchemaVersion, c.MAC, c.DeviceID})
	case gateway.DesiredCommand:
		return json.Marshal(desiredBody{SchemaVersion, c.DeviceID, c.Version, c.Desired})
	case gateway.MethodCommand:
		return json.Marshal(methodBody{SchemaVersion, c.DeviceID, c.Name, c.Args})
	case gateway.TwinGetCommand:
		return json.Marshal(twinGetBody{SchemaVersion, c.DeviceID})
	case gateway.LogsUploadCommand:
		return json.Marshal(logsBody{SchemaVersion, c.Since, c.MaxLines})
	}
	return nil, fmt.Errorf("unknown command %T", c)
}

// readClaim reads one claim, the single one or a row of a claims list, with the gateway's rules for
// MACs, serials and group names (gateway.NormalizeMAC, NormalizeSerial, NormalizeGroup: the CLI's and
// the CSV import's).
func readClaim(r claimRow) (gateway.ClaimRow, error) {
	mac, err := NormalizeMAC(r.MAC)
	if err != nil {
		return gateway.ClaimRow{}, err
	}
	serial, err := gateway.NormalizeSerial(r.Serial)
	if err != nil {
		return gateway.ClaimRow{}, err
	}
	group, err := gateway.NormalizeGroup(r.Group)
	if err != nil {
		return gateway.ClaimRow{}, err
	}
	return gateway.ClaimRow{MAC: mac, Serial: serial, Group: group}, nil
}

// NormalizeMAC is gateway.NormalizeMAC: one rule for MACs on every path (CLI, CSV, cloud).
func NormalizeMAC(s string) (string, error) { return gateway.NormalizeMAC(s) }

func excerpt(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func shortErr(err error) string { return excerpt(err.Error()) }

// Reply makes the reply envelope to a command: kind <kind>-result, correlation-id = its message-id.
func Reply(cmd Envelope, gatewayID, messageID string, now time.Time, result any, err error) Envelope {
	r := Result{SchemaVersion: SchemaVersion, OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	} else if result != nil {
		if b, merr := json.Marshal(result); merr != nil {
			r.OK, r.Error = false, "encode result: "+merr.Error()
		} else {
			r.Result = b
		}
	}
	body, _ := json.Marshal(r)
	kind := ResultKind(cmd.Kind)
	if cmd.Kind == "" || len(cmd.Kind) > 32 {
		kind = "error-result"
	}
	return Envelope{Kind: kind, GatewayID: gatewayID, DeviceID: cmd.DeviceID, MessageID: messageID,
		CorrelationID: cmd.MessageID, Created: now, Body: body}
}
