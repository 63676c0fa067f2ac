package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blockingWriter holds writes of one point until released, to line patches up behind each other.
type blockingWriter struct {
	fakeWriter
	point   string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *blockingWriter) Write(ctx context.Context, ep Endpoint, p Point, v Value) (Value, error) {
	if p.Name == w.point {
		w.once.Do(func() { close(w.entered); <-w.release })
	}
	return w.fakeWriter.Write(ctx, ep, p, v)
}

func TestDesiredSupersedes(t *testing.T) {
	ctx := context.Background()
	prof := &Profile{Name: "acme-display", Protocol: "snmp", Points: []Point{
		{Name: "location", Address: testAddr(".1.3.6.1.2.1.1.6.0"), Type: TypeString, Writable: true},
		{Name: "name", Address: testAddr(".1.3.6.1.2.1.1.5.0"), Type: TypeString, Writable: true},
	}}
	w := &blockingWriter{point: "location", entered: make(chan struct{}), release: make(chan struct{})}
	w.serial = "SIM-1"
	w.setAnswer(func(Endpoint) ([]Reading, error) { return nil, nil })
	g, err := New(Options{Ranks: testRanks, Pollers: map[string]Poller{"snmp": w}, Profiles: oneProfile{prof}})
	require.NoError(t, err)
	id := g.Observe(display)
	_, err = g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)

	// Version 5 writes location (held) and then name; version 6 arrives meanwhile and names name too.
	first := make(chan DesiredResult, 1)
	go func() {
		res, err := g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 5, Desired: map[string]Value{
			"location": String("rack 1"), "name": String("old name")}}, "cloud")
		assert.NoError(t, err) // not require: FailNow from another goroutine would hang the test
		first <- res
	}()
	<-w.entered
	second := make(chan DesiredResult, 1)
	go func() {
		res, err := g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 6, Desired: map[string]Value{
			"name": String("new name")}}, "cloud")
		assert.NoError(t, err)
		second <- res
	}()
	require.Eventually(t, func() bool {
		g.desired.mu.Lock()
		defer g.desired.mu.Unlock()
		return g.desired.queues[id].accepted == 6
	}, 5*time.Second, time.Millisecond)
	_, err = g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 6, Desired: map[string]Value{"name": String("x")}}, "cloud")
	require.ErrorContains(t, err, "not newer than 6", "a version already accepted, though not yet written, is refused")
	close(w.release)

	r5, r6 := <-first, <-second
	require.Equal(t, DesiredApplied, r5.Properties["location"].Status)
	require.Equal(t, DesiredSuperseded, r5.Properties["name"].Status)
	require.Contains(t, r5.Properties["name"].Reason, "superseded by desired $version 6")
	require.Equal(t, DesiredApplied, r6.Properties["name"].Status)
	w.wmu.Lock()
	require.Equal(t, []string{"location", "name"}, w.writes, "the superseded value never reached the device")
	w.wmu.Unlock()

	tw, _ := g.Twin(id)
	require.Equal(t, int64(6), tw.Desired.Version)
	require.Equal(t, "new name", tw.Desired.Values["name"].Str)
	require.Equal(t, "rack 1", tw.Desired.Values["location"].Str)
	require.Equal(t, int64(6), tw.DesiredStatus.Version)
	require.Equal(t, "new name", tw.Reported.Values["name"].Str)
}

func TestInvokeMethod(t *testing.T) {
	ctx := context.Background()
	prof := &Profile{Name: "acme-display", Protocol: "snmp", Methods: []Method{
		{Name: "reboot", Address: testAddr(".1.3.6.1.4.1.99999.1.1.9.0"), Type: TypeInt, Value: "1"},
		{Name: "selfTest", Address: testAddr(".1.3.6.1.4.1.99999.1.1.10.0"), Type: TypeEnum, Value: "2"},
		{Name: "locked", Address: testAddr(".1.3.6.1.4.1.99999.1.1.11.0"), Type: TypeInt, Value: "1"},
	}}
	w := &fakeWriter{fail: map[string]error{
		"selfTest": fmt.Errorf("snmp 127.0.0.1:16100: %w: timeout", ErrUnconfirmed),
		"locked":   &WriteError{Point: "locked", Reason: "notWritable"},
	}}
	w.serial = "SIM-1"
	w.setAnswer(func(Endpoint) ([]Reading, error) { return []Reading{{Name: "up", Value: Number(1)}}, nil })
	var audits []AuditEntry
	var amu sync.Mutex
	g, err := New(Options{Ranks: testRanks, Pollers: map[string]Poller{"snmp": w}, Profiles: oneProfile{prof},
		Sink: SinkFuncs{OnAudit: func(e AuditEntry) { amu.Lock(); audits = append(audits, e); amu.Unlock() }}})
	require.NoError(t, err)
	id := g.Observe(display)

	_, err = g.InvokeMethod(ctx, MethodCommand{DeviceID: id, Name: "reboot"}, "cloud")
	require.ErrorContains(t, err, "only claimed devices take methods")
	_, err = g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)

	res, err := g.HandleCommand(ctx, MethodCommand{DeviceID: id, Name: "reboot"})
	require.NoError(t, err)
	require.Equal(t, "done", res.(MethodResult).Status)
	res, err = g.HandleCommand(ctx, MethodCommand{DeviceID: id, Name: "selfTest"})
	require.NoError(t, err, "a write the device accepted but did not confirm is done for a method (reboots don't answer)")
	require.Contains(t, res.(MethodResult).Detail, "did not answer the read-back")
	_, err = g.HandleCommand(ctx, MethodCommand{DeviceID: id, Name: "locked"})
	require.ErrorContains(t, err, "notWritable")
	_, err = g.HandleCommand(ctx, MethodCommand{DeviceID: id, Name: "format"})
	require.ErrorContains(t, err, `has no method "format" (it has: refresh, reboot, selfTest, locked)`)
	_, err = g.HandleCommand(ctx, MethodCommand{DeviceID: id, Name: "reboot", Args: map[string]Value{"delay": Number(5)}})
	require.ErrorContains(t, err, "takes no arguments")

	before := w.polls.Load()
	res, err = g.HandleCommand(ctx, MethodCommand{DeviceID: id, Name: MethodRefresh})
	require.NoError(t, err)
	require.Equal(t, "done", res.(MethodResult).Status)
	require.Greater(t, w.polls.Load(), before, "refresh polls the device now")
	tw, _ := g.Twin(id)
	require.Equal(t, 1.0, tw.Reported.Values["up"].Num)

	w.wmu.Lock()
	require.Equal(t, []string{"reboot", "selfTest", "locked"}, w.writes)
	w.wmu.Unlock()
	amu.Lock()
	defer amu.Unlock()
	var got []string
	for _, e := range audits {
		if e.Action == "method invoked" || e.Action == "method failed" {
			got = append(got, e.Action+" "+e.New)
		}
	}
	require.Equal(t, []string{"method invoked reboot", "method invoked selfTest", "method failed locked", "method invoked refresh"}, got)
}

func TestClaimGroupMove(t *testing.T) {
	r := newClaimRig(t)
	ctx := context.Background()
	r.g.Observe(display)
	_, err := r.g.Claim(ctx, display.Identity.MAC, "SIM-1", "Lobby", "cli")
	require.NoError(t, err)
	c, err := r.g.Claim(ctx, display.Identity.MAC, "sim-1 ", "Board room", "cloud")
	require.NoError(t, err)
	require.Equal(t, ClaimClaimed, c.State)
	require.Equal(t, "Board room", c.Group)
	tw, _ := r.g.Twin(c.DeviceID)
	require.Equal(t, "Board room", tw.Claim.Group)
	r.mu.Lock()
	defer r.mu.Unlock()
	last := r.audits[len(r.audits)-1]
	require.Equal(t, "moved to another group", last.Action)
	require.Equal(t, "Lobby", last.Old)
	require.Equal(t, "Board room", last.New)
	require.Equal(t, "cloud", last.By)
}
