package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goburrow/modbus"
)

// handler is what both goburrow handlers (TCP and RTU) provide.
type handler interface {
	modbus.ClientHandler
	Connect() error
	Close() error
}

// bus is one physical path to devices: a Modbus TCP endpoint (host:port) or a serial line. Every unit
// id behind it shares its one connection, and requests take turns: many devices accept only one or two
// TCP connections, and an RS-485 line carries one frame at a time. The bus lock is a one-slot channel
// so that waiting for it respects the caller's context.
type bus struct {
	key string // "127.0.0.1:502" or "/dev/ttyUSB0"
	rtu bool

	turn chan struct{}
	// Guarded by turn:
	tcp       *modbus.TCPClientHandler
	ser       *modbus.RTUClientHandler
	h         handler
	client    modbus.Client
	used      bool      // the connection carried a request since it was opened
	downErr   error     // why the last connect failed
	downUntil time.Time // until then, requests fail at once with downErr
}

// Exception is a Modbus exception response: the device understood the request and refused it.
type Exception struct {
	Function byte
	Code     byte
}

// Exception codes (Modbus Application Protocol v1.1b3 §7).
const (
	ExIllegalFunction    = 0x01
	ExIllegalAddress     = 0x02
	ExIllegalValue       = 0x03
	ExDeviceFailure      = 0x04
	ExAcknowledge        = 0x05
	ExDeviceBusy         = 0x06
	ExMemoryParity       = 0x08
	ExGatewayPath        = 0x0A
	ExGatewayNoResponse  = 0x0B
	exceptionFunctionBit = 0x80
)

var exceptionNames = map[byte]string{
	ExIllegalFunction:   "illegal function",
	ExIllegalAddress:    "illegal data address",
	ExIllegalValue:      "illegal data value",
	ExDeviceFailure:     "server device failure",
	ExAcknowledge:       "acknowledge (the device is still working on it)",
	ExDeviceBusy:        "server device busy",
	ExMemoryParity:      "memory parity error",
	ExGatewayPath:       "gateway path unavailable",
	ExGatewayNoResponse: "gateway target device failed to respond",
}

func (e *Exception) Error() string {
	name, ok := exceptionNames[e.Code]
	if !ok {
		name = "unknown exception"
	}
	return fmt.Sprintf("exception %02X (%s)", e.Code, name)
}

// Name is the exception's name alone ("illegal data address"), the reason of a refused write.
func (e *Exception) Name() string {
	if n, ok := exceptionNames[e.Code]; ok {
		return n
	}
	return fmt.Sprintf("exception %02X", e.Code)
}

// absent reports whether the exception says there is no such unit (a TCP gateway with nobody behind
// that unit id) rather than a unit refusing a request.
func (e *Exception) absent() bool { return e.Code == ExGatewayPath || e.Code == ExGatewayNoResponse }

// ErrUnreachable is an endpoint the driver could not connect to; requests to it fail at once for a
// while after a failed connect, so a dead endpoint never holds up the polls queued behind it.
var ErrUnreachable = errors.New("unreachable")

// ErrTimeout is a request the device did not answer in time.
var ErrTimeout = errors.New("no answer in time")

func newBus(key string, s *Serial, idle time.Duration) *bus {
	b := &bus{key: key, turn: make(chan struct{}, 1)}
	if s != nil {
		b.rtu = true
		b.ser = modbus.NewRTUClientHandler(s.Device)
		b.ser.BaudRate, b.ser.DataBits, b.ser.StopBits = s.Baud, s.DataBits, s.StopBits
		b.ser.Parity = map[string]string{"none": "N", "even": "E", "odd": "O"}[s.Parity]
		b.ser.IdleTimeout = idle
		b.h = b.ser
	} else {
		b.tcp = modbus.NewTCPClientHandler(key)
		b.tcp.IdleTimeout = idle
		b.h = b.tcp
	}
	b.client = modbus.NewClient(b.h)
	return b
}

// request is one exchange with a unit: fn runs with the bus to itself.
type request func(c modbus.Client, h handler) error

// do runs fn for unit with the bus to itself, with timeout per exchange. It waits for the bus no
// longer than ctx allows. A read that fails because a reused connection was closed by the device (many
// close idle connections themselves) is tried once more on a new connection; idempotent says whether
// fn may be repeated. A device busy exception is retried once after a short pause.
func (b *bus) do(ctx context.Context, unit byte, timeout time.Duration, idempotent bool, fn request) error {
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.turn }()
	if time.Now().Before(b.downUntil) {
		return fmt.Errorf("%w: %v (not tried again for %s)", ErrUnreachable, b.downErr, time.Until(b.downUntil).Round(time.Second))
	}
	b.setUnit(unit, timeout)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		fresh := !b.used
		err := b.connect()
		if err == nil {
			b.used = true
			err = fn(b.client, b.h)
		}
		var mbErr *modbus.ModbusError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &mbErr):
			ex := &Exception{Function: mbErr.FunctionCode &^ exceptionFunctionBit, Code: mbErr.ExceptionCode}
			if ex.Code == ExDeviceBusy && attempt == 0 {
				if !sleep(ctx, 100*time.Millisecond) {
					return ctx.Err()
				}
				continue
			}
			return ex // the stream is in step: keep the connection
		case errors.As(err, new(*Exception)):
			return err // an exception decoded by hand (function 43)
		}
		// Anything else may leave a late reply in the socket (goburrow/modbus#64, which makes every
		// later exchange fail on a transaction id mismatch): start over on a new connection.
		b.closeConn()
		if isDial(err) {
			b.downErr, b.downUntil = err, time.Now().Add(min(max(timeout, time.Second), 5*time.Second))
			return fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		if isTimeout(err) {
			return fmt.Errorf("%w (%s): %v", ErrTimeout, timeout, err)
		}
		if attempt == 0 && !fresh && idempotent && isClosed(err) {
			continue
		}
		return err
	}
}

func (b *bus) setUnit(unit byte, timeout time.Duration) {
	if b.rtu {
		b.ser.SlaveId, b.ser.Timeout = unit, timeout
	} else {
		b.tcp.SlaveId, b.tcp.Timeout = unit, timeout
	}
}

func (b *bus) connect() error {
	if b.used {
		return nil // goburrow reconnects by itself after its idle close
	}
	return b.h.Connect()
}

func (b *bus) closeConn() {
	b.h.Close()
	b.used = false
}

// close closes the connection; it waits for a request in flight.
func (b *bus) close() {
	b.turn <- struct{}{}
	b.closeConn()
	<-b.turn
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func isDial(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var pe *os.PathError
	return errors.As(err, &pe) && pe.Op == "open" // a serial device that cannot be opened
}

func isTimeout(err error) bool {
	var ne net.Error
	return (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, os.ErrDeadlineExceeded) ||
		strings.Contains(err.Error(), "timeout") // goburrow/serial: "serial: timeout"
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// buses hands out one bus per endpoint, shared by every table and unit that names it.
type buses struct {
	idle time.Duration
	mu   sync.Mutex
	m    map[string]*bus
}

func (bs *buses) get(key string, s *Serial) *bus {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.m[key]; ok {
		return b
	}
	b := newBus(key, s, bs.idle)
	bs.m[key] = b
	return b
}

func (bs *buses) closeAll() {
	bs.mu.Lock()
	all := bs.m
	bs.m = map[string]*bus{}
	bs.mu.Unlock()
	for _, b := range all {
		b.close()
	}
}
