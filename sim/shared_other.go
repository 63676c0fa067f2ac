//go:build !linux

package sim

import (
	"context"
	"errors"
	"net/netip"
)

type sharedConn struct{}

func listenShared(context.Context, uint16) (*sharedConn, error) {
	return nil, errors.New("one socket for many devices needs Linux (SO_BINDTODEVICE, IP_PKTINFO)")
}

func (c *sharedConn) port() uint16 { return 0 }
func (c *sharedConn) close() error { return nil }
func (c *sharedConn) read([]byte) (int, netip.AddrPort, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, netip.AddrPort{}, errors.New("unsupported")
}
func (c *sharedConn) write([]byte, netip.Addr, netip.AddrPort) error {
	return errors.New("unsupported")
}
