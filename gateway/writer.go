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
// Point is the point's name; Reason is the device's error status in the protocol's own spelling; Hint,
// from the driver, says what usually causes it (" (read-only community?)").
type WriteError struct {
	Point  string
	Reason string
	Hint   string
}

func (e *WriteError) Error() string {
	return "set " + e.Point + ": the device refused it: " + e.Reason + e.Hint
}
