package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MethodRefresh is the method every device has: poll it now and report what changed.
const MethodRefresh = "refresh"

// ErrUnconfirmed marks a write the device accepted but whose value could not be read back afterwards
// (a reboot trigger, a device that restarts at once). Drivers wrap it; a method treats it as done.
var ErrUnconfirmed = errors.New("accepted, but the device did not answer the read-back")

// MethodResult is the answer to a method: done, or why not.
type MethodResult struct {
	DeviceID string `json:"deviceId"`
	Name     string `json:"name"`
	// Status is "done"; a failure is the command's error instead.
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// InvokeMethod carries out a method on a claimed device: "refresh" polls it now; any other name is a
// method one of the device's profiles declares, written with the device's driver. Every invocation
// that reaches the device is audited, failed or not.
func (g *Gateway) InvokeMethod(ctx context.Context, c MethodCommand, by string) (MethodResult, error) {
	res := MethodResult{DeviceID: c.DeviceID, Name: c.Name}
	t, err := g.claimedTwin(c.DeviceID, "methods")
	if err != nil {
		return res, err
	}
	eps, twinProfile, mac := t.Endpoints, t.Profile, t.Identity.MAC
	if len(c.Args) > 0 {
		return res, fmt.Errorf("method %s takes no arguments", c.Name)
	}
	// What a method does to a device cannot be undone: not while it could not be audited.
	if err := g.storeFailing(); err != nil {
		return res, notStored(fmt.Errorf("method %s not invoked: %w", c.Name, err))
	}

	audit := func(err error) {
		e := AuditEntry{DeviceID: c.DeviceID, MAC: mac, Action: "method invoked", New: c.Name, By: by}
		if err != nil {
			e.Action, e.Detail = "method failed", err.Error()
		}
		g.Audit(e)
	}
	if c.Name == MethodRefresh {
		err := g.PollNow(ctx, c.DeviceID)
		audit(err)
		if err != nil {
			return res, err
		}
		res.Status = "done"
		return res, nil
	}
	ep, m, ok := g.methodAt(eps, twinProfile, c.Name)
	if !ok {
		return res, fmt.Errorf("device %s has no method %q (it has: %s)", c.DeviceID, c.Name,
			strings.Join(g.methodNames(eps, twinProfile), ", "))
	}
	writer, ok := g.opts.Pollers[ep.Protocol].(Writer)
	if !ok {
		return res, fmt.Errorf("method %s: no driver of this device can write", c.Name)
	}
	pt, v, err := methodWrite(m)
	if err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = writer.Write(wctx, ep.Endpoint, pt, v)
	cancel()
	if errors.Is(err, ErrUnconfirmed) {
		res.Detail, err = err.Error(), nil
	}
	audit(err)
	if err != nil {
		return res, fmt.Errorf("method %s: %w", c.Name, err)
	}
	res.Status = "done"
	return res, nil
}

// methodWrite turns a method into the point and value a Writer writes. Enum and bool methods carry the
// raw number the device expects, so they are written as integers.
func methodWrite(m *Method) (Point, Value, error) {
	pt := Point{Name: m.Name, Address: m.Address, Type: m.Type, Writable: true}
	switch m.Type {
	case TypeString, TypeIP, TypeMAC, TypeOID:
		return pt, String(m.Value), nil
	case TypeEnum, TypeBool:
		pt.Type = TypeInt
	}
	f, err := strconv.ParseFloat(m.Value, 64)
	if err != nil {
		return pt, Value{}, fmt.Errorf("method %s: value %q is not a number", m.Name, m.Value)
	}
	return pt, Number(f), nil
}
