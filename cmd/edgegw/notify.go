package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/edgegw/edgegw/internal/sdnotify"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// notifySystemd tells systemd (Type=notify, packaging/edgegw.service) that the daemon is ready and
// feeds its watchdog for as long as the gateway answers for its health: a gateway stuck on its own
// lock stops the keep-alives and systemd restarts it. The status line (`systemctl status edgegw`) says
// how many devices there are. Outside systemd it does nothing. The returned function sends
// STOPPING=1 and waits for the feeder to end.
func notifySystemd(ctx context.Context, log *slog.Logger, health func() protocol.Health) (stop func()) {
	n, err := sdnotify.New(os.Getenv, os.Getpid())
	if err != nil {
		log.Warn("systemd notify socket unusable", "err", err)
	}
	if !n.Enabled() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		n.Run(ctx, func() string {
			h := health()
			return fmt.Sprintf("%d devices, %d online, %d claimed", h.Devices.Discovered, h.Devices.Online, h.Devices.Claimed)
		}, func(err error) { log.Warn("could not notify systemd", "err", err) })
	})
	if iv := n.WatchdogInterval(); iv > 0 {
		log.Debug("feeding the systemd watchdog", "interval", iv/2)
	}
	return func() { cancel(); wg.Wait() }
}
