//go:build linux

package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// The targets, for the verdict column: at 50,000 devices on 2 cores.
const (
	targetCPUOff  = 0.15 // CPU-ms per poll, cloud off
	targetCPUOn   = 0.30 // every reading going up to RabbitMQ
	targetOnTime  = 99.9 // % of polls started within a second of their due time
	targetRSSMiB  = 400
	targetKiBDev  = 8
	targetStartup = 10 * time.Second
	targetImport  = 30 * time.Second
	targetSweep   = 30 * time.Second
	markerBegin   = "<!-- edgegw-bench:begin (written by `make bench`; edit outside these markers) -->"
	markerEnd     = "<!-- edgegw-bench:end -->"
)

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func (r *results) markdown() string {
	var b strings.Builder
	m := r.machine
	fmt.Fprintf(&b, "## Daemon at scale (`make bench`)\n\n")
	fmt.Fprintf(&b, "Run %s, %s. Commit `%s`, %s. Machine: %d cores (%s), %s RAM, Linux %s. Load average at start %s, at end %s",
		r.started.UTC().Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second), m.commit, m.goVersion, m.cores, m.cpu, m.mem,
		m.kernel, m.loadStart, m.loadEnd)
	fmt.Fprintf(&b, " (other engineers share the machine: a load above ~1 inflates CPU per poll and lateness).\n\n")
	command := "`" + r.o.command + "`"
	if via := os.Getenv("EDGEGW_BENCH_VIA"); via != "" {
		command = fmt.Sprintf("`%s` (runs `%s`)", via, r.o.command)
	}
	fmt.Fprintf(&b, "Command: %s. Polling interval %s, each figure measured over %s after one interval of warm-up; "+
		"CPU from /proc/PID/stat of the daemon's own process (the simulator runs as another), polls and late polls from its admin "+
		"socket's status, RSS from /proc/PID/status (peak = VmHWM).\n\n",
		command, r.o.interval, r.o.window)

	fmt.Fprintf(&b, "| Devices | Cloud | CPU-ms / poll | Polls on time | Polls (errors) | Peak RSS | KiB / device | Start-up to first poll | Messages drained | Load (1 min) |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.sizes {
		if s.err != "" {
			fmt.Fprintf(&b, "| %d | – | failed: %s | | | | | | | |\n", s.n, oneLine(s.err))
		}
		row := func(cloud string, x *runResult, startup string) {
			if x == nil {
				return
			}
			msgs := "–"
			if cloud == "on" {
				msgs = fmt.Sprintf("%d messages, %d readings (%s)", x.messages, x.readings, kinds(x.kinds))
			}
			fmt.Fprintf(&b, "| %d | %s | %.3f | %s | %d (%d) | %d MiB | %.1f | %s | %s | %s |\n", s.n, cloud, x.cpuPerPoll,
				pct(x.polls, x.late), x.polls, x.errors, x.peak/1024, float64(x.peak)/float64(s.n), startup, msgs, x.load)
		}
		row("off", s.off, "–")
		st := "–"
		if s.startup > 0 {
			st = s.startup.Round(10 * time.Millisecond).String()
		}
		if s.on != nil {
			row("on", s.on, st)
		} else if s.startup > 0 {
			fmt.Fprintf(&b, "| %d | off (restart) | | | | %d MiB at first poll | | %s | | |\n", s.n, s.startupRSS/1024, st)
		}
		if s.bare != nil {
			fmt.Fprintf(&b, "| %d | bare gosnmp loop | %.3f | %.2f %% | %d (%d failed) | %d MiB | %.1f | – | – | %s |\n", s.n, s.bare.cpuPerPoll,
				s.bare.onTime, s.bare.polls, s.bare.failed, s.bare.peakKiB/1024, float64(s.bare.peakKiB)/float64(s.n), s.bare.load)
		}
	}
	if r.telegraf != nil {
		fmt.Fprintf(&b, "| 1000 displays | Telegraf inputs.snmp | %.3f | – | ~%d | %d MiB | – | – | – | %s |\n", r.telegraf.cpuPerPoll,
			r.telegraf.polls, r.telegraf.peakKiB/1024, r.telegraf.load)
	}
	b.WriteString("\n")

	fmt.Fprintf(&b, "| Other | Figure |\n|---|---|\n")
	for _, s := range r.sizes {
		if s.off != nil || s.importOut != "" {
			fmt.Fprintf(&b, "| %d devices: discovery of the subnet to every device in the inventory | %s |\n", s.n, s.discover.Round(100*time.Millisecond))
			fmt.Fprintf(&b, "| %d devices: `edgegw claim import` of their %d-row CSV | %s (%s) |\n", s.n, s.n, s.importTime.Round(100*time.Millisecond), oneLine(s.importOut))
		}
	}
	if r.sweep != nil {
		s := r.sweep.summary
		if r.sweep.err != "" {
			s += " failed: " + oneLine(r.sweep.err)
		}
		fmt.Fprintf(&b, "| `edgegw discover` of a /16 with %d devices, default settings | %s (%s; load %s) |\n", sweepLive, r.sweep.elapsed.Round(100*time.Millisecond), s, r.sweep.load)
	}
	for _, l := range r.uplink {
		fmt.Fprintf(&b, "| uplink, `%s` | |\n", l)
	}
	b.WriteString("\n")

	// Verdicts against the targets, from the largest size measured.
	if len(r.sizes) > 0 {
		big := r.sizes[len(r.sizes)-1]
		fmt.Fprintf(&b, "Targets (issue 17, for 50,000 devices at a 60 s interval; checked here at %d devices, %s interval):\n\n", big.n, r.o.interval)
		fmt.Fprintf(&b, "| Target | Measured | Verdict |\n|---|---|---|\n")
		if x := big.off; x != nil {
			fmt.Fprintf(&b, "| ≤ %.2f CPU-ms per poll, cloud off | %.3f | %s |\n", targetCPUOff, x.cpuPerPoll, verdict(x.cpuPerPoll <= targetCPUOff))
			on := 100 * (1 - float64(x.late)/math.Max(1, float64(x.polls)))
			fmt.Fprintf(&b, "| ≥ %.1f %% polls on time | %s | %s |\n", targetOnTime, pct(x.polls, x.late), verdict(on >= targetOnTime))
			fmt.Fprintf(&b, "| ≤ %d MiB RSS | %d MiB peak | %s |\n", targetRSSMiB, x.peak/1024, verdict(x.peak/1024 <= targetRSSMiB))
			fmt.Fprintf(&b, "| ≤ %d KiB per device | %.1f | %s |\n", targetKiBDev, float64(x.peak)/float64(big.n), verdict(float64(x.peak)/float64(big.n) <= targetKiBDev))
		}
		if x := big.on; x != nil {
			fmt.Fprintf(&b, "| ≤ %.2f CPU-ms per poll, every reading to RabbitMQ | %.3f | %s |\n", targetCPUOn, x.cpuPerPoll, verdict(x.cpuPerPoll <= targetCPUOn))
		}
		if big.startup > 0 {
			fmt.Fprintf(&b, "| start-up to first poll < %s | %s | %s |\n", targetStartup, big.startup.Round(10*time.Millisecond), verdict(big.startup < targetStartup))
		}
		if big.importTime > 0 {
			fmt.Fprintf(&b, "| claim import < %s | %s for %d rows | %s |\n", targetImport, big.importTime.Round(100*time.Millisecond), big.n, verdict(big.importTime < targetImport && !strings.HasPrefix(big.importOut, "failed")))
		}
		if r.sweep != nil {
			fmt.Fprintf(&b, "| /16 sweep < %s | %s | %s |\n", targetSweep, r.sweep.elapsed.Round(100*time.Millisecond), verdict(r.sweep.elapsed < targetSweep && r.sweep.err == ""))
		}
		if r.telegraf != nil && big.off != nil {
			fmt.Fprintf(&b, "| at most half Telegraf's CPU per poll | %.3f vs %.3f | %s |\n", big.off.cpuPerPoll, r.telegraf.cpuPerPoll, verdict(big.off.cpuPerPoll <= r.telegraf.cpuPerPoll/2))
		}
		b.WriteString("\n")
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String()
}

func pct(polls, late int) string {
	if polls == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f %%", 100*(1-float64(late)/float64(polls)))
}

func kinds(k map[string]int) string {
	var parts []string
	for name, n := range k {
		parts = append(parts, fmt.Sprintf("%s %d", name, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// writeBetweenMarkers puts report between the markers in path (appending them the first time).
func writeBetweenMarkers(path, report string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	block := markerBegin + "\n" + report + markerEnd + "\n"
	i, j := strings.Index(s, markerBegin), strings.Index(s, markerEnd)
	if i >= 0 && j > i {
		s = s[:i] + block + strings.TrimPrefix(s[j+len(markerEnd):], "\n")
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + block
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
