package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// sharedConn is one UDP socket that answers for every device of a prefix: it is bound to the wildcard
// address at one port but tied to the loopback interface (SO_BINDTODEVICE "lo"), so it hears only
// loopback traffic, never a real network's. Each datagram's destination address (IP_PKTINFO) says which
// device it is for, and the answer leaves from that same address, as if each device had its own socket.
type sharedConn struct {
	pc net.PacketConn
	p  *ipv4.PacketConn
}

// sharedRecvBuf is the socket receive buffer asked for: a sweep's or a poll round's burst of requests
// for thousands of devices waits there while one reader works through it.
const sharedRecvBuf = 4 << 20

func listenShared(ctx context.Context, port uint16) (*sharedConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			// Since Linux 5.7 an unprivileged process may bind its own socket to a device.
			if serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo"); serr != nil {
				serr = fmt.Errorf("bind to the loopback interface: %w", serr)
				return
			}
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, sharedRecvBuf)
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return nil, err
	}
	p := ipv4.NewPacketConn(pc)
	if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
		pc.Close()
		return nil, fmt.Errorf("ask for destination addresses (IP_PKTINFO): %w", err)
	}
	return &sharedConn{pc: pc, p: p}, nil
}

func (c *sharedConn) port() uint16 { return uint16(c.pc.LocalAddr().(*net.UDPAddr).Port) }

func (c *sharedConn) close() error { return c.pc.Close() }

// read returns one datagram, who sent it and the address it was sent to.
func (c *sharedConn) read(buf []byte) (n int, from, to netip.AddrPort, err error) {
	n, cm, src, err := c.p.ReadFrom(buf)
	if err != nil {
		return 0, from, to, err
	}
	ua, ok := src.(*net.UDPAddr)
	if !ok || cm == nil {
		return n, from, to, errors.New("datagram without its addresses")
	}
	from = ua.AddrPort()
	da, _ := netip.AddrFromSlice(cm.Dst.To4())
	return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), netip.AddrPortFrom(da, c.port()), nil
}

// write sends b to `to` from the device address src.
func (c *sharedConn) write(b []byte, src netip.Addr, to netip.AddrPort) error {
	s := src.As4()
	_, err := c.p.WriteTo(b, &ipv4.ControlMessage{Src: net.IP(s[:])}, net.UDPAddrFromAddrPort(to))
	return err
}
