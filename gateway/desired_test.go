package gateway

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeWriter records writes and echoes the value back, or fails for points named in fail.
type fakeWriter struct {
	liveDriver
	wmu    sync.Mutex
	writes []string
	fail   map[string]error
}

func (w *fakeWriter) Write(ctx context.Context, ep Endpoint, p Point, v Value) (Value, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.writes = append(w.writes, p.Name)
	if err := w.fail[p.Name]; err != nil {
		return Value{}, err
	}
	return v, nil
}

func TestApplyDesired(t *testing.T) {
	ctx := context.Background()
	minB, maxB := 0.0, 100.0
	prof := &Profile{Name: "acme-display", Protocol: "snmp", Points: []Point{
		{Name: "location", Address: testAddr(".1.3.6.1.2.1.1.6.0"), Type: TypeString, Writable: true, MaxLen: 10},
		{Name: "powerState", Address: testAddr(".1.3.6.1.4.1.99999.1.1.2.0"), Type: TypeEnum, Enum: map[int64]string{1: "on", 2: "standby"}, Writable: true},
		{Name: "backlightPercent", Address: testAddr(".1.3.6.1.4.1.99999.1.1.4.0"), Type: TypeInt, Writable: true, Min: &minB, Max: &maxB},
		{Name: "uptimeSeconds", Address: testAddr(".1.3.6.1.2.1.1.3.0"), Type: TypeTimeticks},
		{Name: "contact", Address: testAddr(".1.3.6.1.2.1.1.4.0"), Type: TypeString, Writable: true},
	}}
	w := &fakeWriter{fail: map[string]error{"contact": &WriteError{Point: "contact", Reason: "noAccess"}}}
	w.serial = "SIM-1"
	w.setAnswer(func(Endpoint) ([]Reading, error) { return nil, nil })
	g, err := New(Options{Ranks: testRanks, Pollers: map[string]Poller{"snmp": w}, Profiles: oneProfile{prof}})
	require.NoError(t, err)
	id := g.Observe(display)

	_, err = g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 1, Desired: map[string]Value{"location": String("x")}}, "cloud")
	require.ErrorContains(t, err, "only claimed devices take settings")
	_, err = g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)

	res, err := g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 3, Desired: map[string]Value{
		"location":         String("rack 7"),
		"powerState":       String("standby"),
		"backlightPercent": Number(150),
		"uptimeSeconds":    Number(1),
		"volume":           Number(3),
		"contact":          String("ops"),
		"locationTooLong":  String("x"),
	}}, "cloud")
	require.NoError(t, err)
	st := func(n string) PropertyStatus { return res.Properties[n] }
	require.Equal(t, DesiredApplied, st("location").Status)
	require.Equal(t, "rack 7", st("location").Value.Str)
	require.Equal(t, DesiredApplied, st("powerState").Status)
	require.Equal(t, DesiredRejected, st("backlightPercent").Status)
	require.Contains(t, st("backlightPercent").Reason, "above the maximum 100")
	require.Contains(t, st("uptimeSeconds").Reason, "read-only")
	require.Contains(t, st("volume").Reason, `no setting "volume"`)
	require.Equal(t, DesiredFailed, st("contact").Status)
	require.Contains(t, st("contact").Reason, "noAccess")
	w.wmu.Lock()
	require.ElementsMatch(t, []string{"location", "powerState", "contact"}, w.writes, "rejected ones never reach the device")
	w.wmu.Unlock()

	tw, _ := g.Twin(id)
	require.Equal(t, int64(3), tw.Desired.Version)
	require.Equal(t, "rack 7", tw.Reported.Values["location"].Str)
	require.Equal(t, int64(3), tw.DesiredStatus.Version)

	// Wrong types and enum values.
	res, err = g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 4, Desired: map[string]Value{
		"location": Number(5), "powerState": String("off"), "backlightPercent": String("bright")}}, "cloud")
	require.NoError(t, err)
	require.Contains(t, res.Properties["location"].Reason, "takes a string")
	require.Contains(t, res.Properties["powerState"].Reason, `"off" is not one of ["on" "standby"]`)
	require.Contains(t, res.Properties["backlightPercent"].Reason, "takes a number")

	// An older version is refused as a whole.
	_, err = g.ApplyDesired(ctx, DesiredCommand{DeviceID: id, Version: 2, Desired: map[string]Value{"location": String("old")}}, "cloud")
	require.ErrorContains(t, err, "not newer than 4")

	// Unknown device.
	_, err = g.ApplyDesired(ctx, DesiredCommand{DeviceID: "mac-000000000009", Version: 9, Desired: map[string]Value{"location": String("x")}}, "cloud")
	require.True(t, errors.Is(err, ErrNoDevice))
	_ = time.Second
}
