package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goburrow/modbus"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/internal/peers"
)

func modbusSite(t *testing.T, n int) *ModbusSite {
	t.Helper()
	s, err := StartModbus(context.Background(), ModbusOptions{N: n, Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func mbClient(t *testing.T, d ModbusDevice, unit byte) (modbus.Client, *modbus.TCPClientHandler) {
	t.Helper()
	h := modbus.NewTCPClientHandler(d.Addr.String())
	h.SlaveId, h.Timeout = unit, 2*time.Second
	require.NoError(t, h.Connect())
	t.Cleanup(func() { h.Close() })
	return modbus.NewClient(h), h
}

func exceptionCode(err error) byte {
	var e *modbus.ModbusError
	if errors.As(err, &e) {
		return e.ExceptionCode
	}
	return 0
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// TestModbusMeter reads and writes the EM100 map of drivers/profile/profiles/acme-modbus.toml with
// goburrow's client.
func TestModbusMeter(t *testing.T) {
	s := modbusSite(t, 2)
	dev := s.Devices()[0]
	require.Equal(t, "EM100", dev.Model)
	require.True(t, strings.HasPrefix(dev.MAC, "02:ed:68:"), dev.MAC)
	c, h := mbClient(t, dev, 1)

	// Function 43/14, basic then regular.
	objs := readDeviceID(t, h, 1)
	require.Equal(t, map[byte]string{0: "ACME", 1: "EM100", 2: "2.1.0"}, objs)
	objs = readDeviceID(t, h, 2)
	require.Equal(t, "EM100-3P", objs[5])

	in, err := c.ReadInputRegisters(0, 14)
	require.NoError(t, err)
	v := float64(math.Float32frombits(be32(in[0:])))
	a := float64(math.Float32frombits(be32(in[4:])))
	w := float64(math.Float32frombits(be32(in[8:])))
	require.InDelta(t, 230, v, 3.01)
	require.InDelta(t, 5, a, 2.01)
	require.InDelta(t, v*a, w, 0.01*w)
	require.Greater(t, binary.BigEndian.Uint64(in[12:]), uint64(100_000), "energy Wh")
	require.InDelta(t, 50, float64(binary.BigEndian.Uint16(in[22:]))/100, 0.06)
	up := uint32(binary.BigEndian.Uint16(in[26:]))<<16 | uint32(binary.BigEndian.Uint16(in[24:])) // low word first
	require.Greater(t, up, uint32(3600))

	hr, err := c.ReadHoldingRegisters(100, 8)
	require.NoError(t, err)
	require.Equal(t, dev.Serial, strings.TrimRight(string(hr), "\x00"))
	hr, err = c.ReadHoldingRegisters(110, 3)
	require.NoError(t, err)
	require.Equal(t, dev.MAC, net.HardwareAddr(hr).String())

	// Holes, bad values, other units.
	_, err = c.ReadHoldingRegisters(0, 16) // 6..7 is a hole
	require.Equal(t, byte(0x02), exceptionCode(err), "%v", err)
	_, err = c.WriteSingleRegister(0, 9000)
	require.Equal(t, byte(0x03), exceptionCode(err), "ctRatio is 1..5000")
	_, err = c.WriteSingleRegister(2, 1)
	require.Equal(t, byte(0x03), exceptionCode(err), "half of the i32 powerLimit")
	_, err = c.WriteMultipleRegisters(0, 2, []byte{0, 200, 0, 9}) // ctRatio fine, displayMode out of range
	require.Equal(t, byte(0x03), exceptionCode(err))
	ct, err := c.ReadHoldingRegisters(0, 1)
	require.NoError(t, err)
	require.Equal(t, []byte{0, 100}, ct, "a refused request changes nothing")
	_, err = c.WriteSingleRegister(100, 1)
	require.Equal(t, byte(0x02), exceptionCode(err), "the serial is read-only")
	c7, _ := mbClient(t, dev, 7)
	_, err = c7.ReadHoldingRegisters(0, 1)
	require.Equal(t, byte(0x0B), exceptionCode(err), "no unit 7 behind this device")

	// Writes land.
	_, err = c.WriteSingleRegister(0, 250)
	require.NoError(t, err)
	_, err = c.WriteMultipleRegisters(2, 2, []byte{0xFF, 0xFF, 0xFA, 0x24}) // -1500
	require.NoError(t, err)
	_, err = c.WriteMultipleRegisters(8, 8, []byte("Plant room\x00\x00\x00\x00\x00\x00"))
	require.NoError(t, err)
	hr, err = c.ReadHoldingRegisters(0, 6)
	require.NoError(t, err)
	require.Equal(t, []byte{0, 250, 0, 1, 0xFF, 0xFF, 0xFA, 0x24}, hr[:8])
	_, err = c.WriteSingleCoil(0, 0xFF00)
	require.NoError(t, err)
	coils, err := c.ReadCoils(0, 2)
	require.NoError(t, err)
	require.Equal(t, byte(1), coils[0])
	// resetEnergy zeroes the counter; reboot restarts the uptime.
	_, err = c.WriteSingleCoil(1, 0xFF00)
	require.NoError(t, err)
	_, err = c.WriteSingleRegister(20, 1)
	require.NoError(t, err)
	in, err = c.ReadInputRegisters(6, 8)
	require.NoError(t, err)
	require.Less(t, binary.BigEndian.Uint64(in), uint64(10))
	require.Less(t, binary.BigEndian.Uint16(in[12:]), uint16(10))
}

// readDeviceID sends function 43/14 through the handler, as the driver does.
func readDeviceID(t *testing.T, h *modbus.TCPClientHandler, code byte) map[byte]string {
	t.Helper()
	req := &modbus.ProtocolDataUnit{FunctionCode: 0x2B, Data: []byte{0x0E, code, 0}}
	adu, err := h.Encode(req)
	require.NoError(t, err)
	resp, err := h.Send(adu)
	require.NoError(t, err)
	require.NoError(t, h.Verify(adu, resp))
	pdu, err := h.Decode(resp)
	require.NoError(t, err)
	require.Equal(t, byte(0x2B), pdu.FunctionCode)
	d := pdu.Data
	require.Equal(t, byte(0x82), d[2], "conformity: regular, individual access")
	objs := map[byte]string{}
	for i, p := 0, 6; i < int(d[5]); i++ {
		objs[d[p]] = string(d[p+2 : p+2+int(d[p+1])])
		p += 2 + int(d[p+1])
	}
	return objs
}

// TestModbusInverter reads the SunSpec map: the marker, the model chain and model 101's values.
func TestModbusInverter(t *testing.T) {
	s := modbusSite(t, 2)
	dev := s.Devices()[1]
	require.Equal(t, "SI3600", dev.Model)
	c, h := mbClient(t, dev, 1)
	hr, err := c.ReadHoldingRegisters(40000, 2)
	require.NoError(t, err)
	require.Equal(t, "SunS", string(hr))
	models := map[uint16]uint16{}
	for a := uint16(40002); ; {
		hr, err := c.ReadHoldingRegisters(a, 2)
		require.NoError(t, err)
		id, l := binary.BigEndian.Uint16(hr), binary.BigEndian.Uint16(hr[2:])
		if id == 0xFFFF {
			break
		}
		models[id] = a + 2
		a += 2 + l
	}
	require.Equal(t, map[uint16]uint16{1: 40004, 11: 40072, 101: 40087}, models)
	hr, err = c.ReadHoldingRegisters(40004+48, 16)
	require.NoError(t, err)
	require.Equal(t, dev.Serial, strings.TrimRight(string(hr), "\x00"))
	hr, err = c.ReadHoldingRegisters(40072+3, 4)
	require.NoError(t, err)
	require.Equal(t, dev.MAC, net.HardwareAddr(hr[2:]).String())
	inv, err := c.ReadHoldingRegisters(40087, 50)
	require.NoError(t, err)
	r := func(o int) int16 { return int16(binary.BigEndian.Uint16(inv[2*o:])) }
	watts := float64(r(12)) * math.Pow10(int(r(13)))
	volts := float64(uint16(r(8))) * math.Pow10(int(r(11)))
	amps := float64(uint16(r(0))) * math.Pow10(int(r(4)))
	require.InDelta(t, volts*amps, watts, 30)
	require.Equal(t, int16(4), r(36), "MPPT")
	require.Equal(t, uint16(0xFFFF), uint16(r(2)), "phase B not implemented")
	_, err = c.ReadHoldingRegisters(0, 1)
	require.Equal(t, byte(0x02), exceptionCode(err))
	_, err = rawFC43(h)
	require.Equal(t, byte(0x01), exceptionCode(err), "no function 43 on the inverter")
}

func rawFC43(h *modbus.TCPClientHandler) ([]byte, error) {
	adu, _ := h.Encode(&modbus.ProtocolDataUnit{FunctionCode: 0x2B, Data: []byte{0x0E, 1, 0}})
	resp, err := h.Send(adu)
	if err != nil {
		return nil, err
	}
	pdu, err := h.Decode(resp)
	if err != nil {
		return nil, err
	}
	if pdu.FunctionCode == 0xAB {
		return nil, &modbus.ModbusError{FunctionCode: 0xAB, ExceptionCode: pdu.Data[0]}
	}
	return pdu.Data, nil
}

// TestModbusConnections: a third connection is refused while two are open, and a client sending
// garbage or hanging up mid-frame does not disturb another.
func TestModbusConnections(t *testing.T) {
	s := modbusSite(t, 1)
	dev := s.Devices()[0]
	c1, _ := mbClient(t, dev, 1)
	garbage, err := net.Dial("tcp", dev.Addr.String())
	require.NoError(t, err)
	defer garbage.Close()
	third, err := net.Dial("tcp", dev.Addr.String())
	require.NoError(t, err)
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = third.Read(make([]byte, 1))
	require.Error(t, err, "the third connection is closed at once")
	// Garbage: a frame with a foreign protocol id; the device drops that connection only.
	garbage.Write([]byte{0, 1, 0x12, 0x34, 0, 6, 1, 3, 0, 0})
	garbage.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = garbage.Read(make([]byte, 1))
	require.Error(t, err)
	_, err = c1.ReadHoldingRegisters(0, 1)
	require.NoError(t, err, "the first client is served as before")
	// Mid-frame hang-up.
	half, err := net.Dial("tcp", dev.Addr.String())
	require.NoError(t, err)
	half.Write([]byte{0, 1, 0, 0, 0, 6, 1})
	half.Close()
	_, err = c1.ReadInputRegisters(0, 2)
	require.NoError(t, err)
}

// TestModbusMbpoll reads and writes with mbpoll, a Modbus client nobody here wrote.
func TestModbusMbpoll(t *testing.T) {
	bin, err := exec.LookPath("mbpoll")
	if err != nil {
		if peers.InCI() {
			t.Fatal("mbpoll is not installed (scripts/peers/peers.sh install installs it)")
		}
		t.Skip("mbpoll is not installed (scripts/peers/peers.sh install installs it)")
	}
	s := modbusSite(t, 1)
	dev := s.Devices()[0]
	port := strconv.Itoa(int(dev.Addr.Port()))
	// mbpoll [options] host [values to write]: the host comes before the values.
	mbpoll := func(opts []string, values ...string) string {
		args := append([]string{"-m", "tcp", "-p", port, "-a", "1", "-0", "-1", "-o", "2"}, opts...)
		args = append(append(args, dev.Addr.Addr().String()), values...)
		out, err := exec.Command(bin, args...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	require.Contains(t, mbpoll([]string{"-t", "4", "-r", "0", "-c", "2"}), "[0]: \t100")
	mbpoll([]string{"-t", "4", "-r", "0"}, "42")
	require.Contains(t, mbpoll([]string{"-t", "4", "-r", "0", "-c", "1"}), "[0]: \t42")
	require.Contains(t, mbpoll([]string{"-t", "3:float", "-B", "-r", "0", "-c", "1"}), "[0]: \t2") // ~230 V as a float
}

// FuzzModbusRequest: any request PDU gets an answer no longer than a PDU may be, never a panic.
func FuzzModbusRequest(f *testing.F) {
	f.Add(byte(1), []byte{0x03, 0, 0, 0, 6})
	f.Add(byte(1), []byte{0x10, 0, 8, 0, 2, 4, 'A', 'B', 'C', 'D'})
	f.Add(byte(1), []byte{0x2B, 0x0E, 2, 0})
	f.Add(byte(1), []byte{0x0F, 0, 0, 0, 2, 1, 3})
	f.Add(byte(255), []byte{0x04, 0, 12, 0, 2})
	meter := newMBDevice(0, 1, time.Now, time.Now(), 2)
	inverter := newMBDevice(1, 1, time.Now, time.Now(), 2)
	f.Fuzz(func(t *testing.T, unit byte, pdu []byte) {
		for _, d := range []*mbDevice{meter, inverter} {
			resp := d.handle(unit, pdu)
			if len(resp) < 2 || len(resp) > maxPDU {
				t.Fatalf("answer of %d bytes to % x", len(resp), pdu)
			}
		}
	})
}
