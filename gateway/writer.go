package gateway

import "context"

// Writer is a driver that can change a device's settings. Write sets one point to value (already
// validated against the profile by the core) and returns the value read back from the device afterwards.
// A *WriteError is the device refusing the write; any other error is no answer or a value the driver
// cannot encode. A write that got no answer may or may not have been applied.
type Writer interface {
	Write(ctx context.Context, ep Endpoint, p Point, v Value) (readBack Value, err error)
}

// WriteError is a device's refusal ("notWritable", "wrongValue", "noAccess") as opposed to no answer.
// Point is the point's name; Reason is the device's error status in the protocol's own spelling.
type WriteError struct {
	Point  string
	Reason string
}

func (e *WriteError) Error() string {
	return "set " + e.Point + ": the device refused it: " + e.Reason + writeHints[e.Reason]
}

// writeHints say what usually causes a refusal, for the people who read the error.
var writeHints = map[string]string{
	"noAccess":           " (read-only community?)",
	"authorizationError": " (the user may not write it?)",
	"notWritable":        " (read-only object)",
	"readOnly":           " (read-only object)",
	"noCreation":         " (no such object)",
	"noSuchName":         " (no such object, or a read-only community)",
	"noSuchObject":       " (no such object)",
	"wrongLength":        " (too long or too short)",
	"wrongValue":         " (value out of range)",
	"badValue":           " (value out of range or of the wrong type)",
	// Modbus exceptions.
	"illegal function":     " (the device does not write this register kind)",
	"illegal data address": " (no such register)",
	"illegal data value":   " (value out of range)",
	"server device busy":   " (try again later)",
}
