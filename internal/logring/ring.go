// Package logring keeps the daemon's most recent log lines in memory, bounded in count and bytes, so
// that a cloud operator's logs-upload can fetch them without shell access to the site server. Nothing
// is kept on disk and nothing is sent until asked.
package logring

import (
	"bytes"
	"sync"
	"time"
)

// Ring is an io.Writer that keeps the last lines written to it. slog handlers write one record per
// Write call, so each Write is one line. It is safe for concurrent use.
type Ring struct {
	mu       sync.Mutex
	lines    []line // circular, len <= maxLines
	next     int
	bytes    int
	maxLines int
	maxBytes int
	now      func() time.Time
}

type line struct {
	at   time.Time
	text []byte
}

// New keeps at most maxLines lines and maxBytes bytes of them (the oldest go first).
func New(maxLines, maxBytes int) *Ring {
	return &Ring{maxLines: max(maxLines, 1), maxBytes: max(maxBytes, 1), now: time.Now}
}

// Write keeps p (without its trailing newline) as one line. A line longer than the byte bound is cut.
func (r *Ring) Write(p []byte) (int, error) {
	n := len(p)
	p = bytes.TrimRight(p, "\n")
	if len(p) > r.maxBytes {
		p = p[:r.maxBytes]
	}
	l := line{at: r.now(), text: bytes.Clone(p)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) < r.maxLines {
		r.lines = append(r.lines, l)
	} else {
		r.bytes -= len(r.lines[r.next].text)
		r.lines[r.next] = l
		r.next = (r.next + 1) % r.maxLines
	}
	r.bytes += len(l.text)
	for r.bytes > r.maxBytes && len(r.lines) > 1 {
		r.dropOldest()
	}
	return n, nil
}

// dropOldest removes the oldest line; r.mu is held.
func (r *Ring) dropOldest() {
	r.bytes -= len(r.lines[r.oldest()].text)
	// Rebuild in order without the oldest: rare (only when lines are large), so simplicity wins.
	ordered := r.ordered()[1:]
	r.lines = append(r.lines[:0:0], ordered...)
	r.next = 0
}

func (r *Ring) oldest() int {
	if len(r.lines) < r.maxLines {
		return 0
	}
	return r.next
}

// ordered returns the lines oldest first; r.mu is held.
func (r *Ring) ordered() []line {
	if len(r.lines) < r.maxLines {
		return r.lines
	}
	return append(append([]line(nil), r.lines[r.next:]...), r.lines[:r.next]...)
}

// Since returns up to maxLines of the newest lines written at or after since, oldest first, and
// whether older matching lines were left out.
func (r *Ring) Since(since time.Time, maxLines int) (lines []string, truncated bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.ordered() {
		if !l.at.Before(since) {
			lines = append(lines, string(l.text))
		}
	}
	if maxLines > 0 && len(lines) > maxLines {
		return lines[len(lines)-maxLines:], true
	}
	return lines, false
}
