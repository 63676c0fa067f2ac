package main

import (
	"context"
	"time"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/logring"
)

// Bounds of a logs-upload answer: it travels as one AMQP message, so it stays well under the broker's
// frame limits whatever the cloud asks for.
const (
	logsDefaultLines = 500
	logsDefaultSince = 24 * time.Hour
	logsMaxBytes     = 256 << 10
)

// LogsUpload is the answer to logs-upload: the audit entries and the daemon's log lines since the
// asked time, newest kept when the bounds cut.
type LogsUpload struct {
	Since     time.Time            `json:"since"`
	Audit     []gateway.AuditEntry `json:"audit"`
	Logs      []string             `json:"logs"`
	Truncated bool                 `json:"truncated,omitempty"`
}

// commandHandler is the gateway's command handler plus the one command only the daemon can answer:
// logs-upload, from the in-memory log ring and the audit log.
type commandHandler struct {
	gw   *gateway.Gateway
	ring *logring.Ring
}

func (h *commandHandler) HandleCommand(ctx context.Context, cmd gateway.Command) (any, error) {
	c, ok := cmd.(gateway.LogsUploadCommand)
	if !ok {
		return h.gw.HandleCommand(ctx, cmd)
	}
	since, lines := c.Since, c.MaxLines
	if since.IsZero() {
		since = time.Now().Add(-logsDefaultSince)
	}
	if lines <= 0 {
		lines = logsDefaultLines
	}
	out := LogsUpload{Since: since.UTC(), Audit: []gateway.AuditEntry{}}
	audit, err := h.gw.AuditLog("", since)
	if err != nil {
		return nil, err
	}
	if len(audit) > lines {
		audit, out.Truncated = audit[len(audit)-lines:], true
	}
	out.Audit = append(out.Audit, audit...)
	logs, trunc := h.ring.Since(since, lines)
	out.Logs, out.Truncated = logs, out.Truncated || trunc
	if out.Logs == nil {
		out.Logs = []string{}
	}
	// Keep the newest lines within the byte bound.
	size := 0
	for i := len(out.Logs) - 1; i >= 0; i-- {
		size += len(out.Logs[i]) + 3
		if size > logsMaxBytes {
			out.Logs, out.Truncated = out.Logs[i+1:], true
			break
		}
	}
	return out, nil
}
