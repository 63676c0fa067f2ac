package soak

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/stretchr/testify/require"
)

// report writes report.md and plot.svg into the report directory.
func (r *run) report(res result) {
	r.mu.Lock()
	samples := append([]sample(nil), r.samples...)
	events := append([]event(nil), r.events...)
	r.mu.Unlock()
	require.NoError(r.t, os.WriteFile(filepath.Join(r.dir, "plot.svg"), []byte(plotSVG(samples, events)), 0o644))

	count := map[string]int{}
	for _, e := range events {
		count[e.kind]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# edgegw fault soak (%s)\n\n", r.p.name)
	fmt.Fprintf(&b, "%s, %s in all, seed %d (`SOAK=%s SOAK_SEED=%d make soak` replays the schedule). %d simulated SNMP devices, "+
		"all claimed; the gateway polled each every %s.\n\n", r.started.UTC().Format(time.RFC3339), time.Since(r.started).Round(time.Second),
		r.seed, r.p.name, r.seed, r.p.devices, r.p.poll)
	b.WriteString("## Faults\n\n| fault | times |\n|---|---|\n")
	for _, k := range []string{"gateway SIGKILL", "broker stop", "disk full", "clock step"} {
		fmt.Fprintf(&b, "| %s | %d |\n", k, count[k])
	}
	for _, e := range events {
		if e.kind == "flaps" {
			fmt.Fprintf(&b, "| device outages (%d at a time, %s each) | %s |\n", r.p.flapN, r.p.flapFor, e.detail)
		}
	}
	fmt.Fprintf(&b, "| commands sent (twin-get, twin-desired) | %d |\n\n", res.commands)
	b.WriteString("## What the cloud got\n\n| | |\n|---|---|\n")
	rows := [][2]string{
		{"messages received", fmt.Sprint(res.received)},
		{"unique message ids", fmt.Sprint(res.unique)},
		{"duplicates (at least once: resent after a reconnect or a kill)", fmt.Sprint(res.duplicates)},
		{"**lost of what must not be lost**", fmt.Sprintf("**%d** (audit entries %d of %d checked; commands unanswered %d of %d; twins not as in the gateway %d of %d)",
			res.lostAudits+res.unanswered+res.mismatched, res.lostAudits, res.auditsChecked, res.unanswered, res.commands, res.mismatched, res.twins)},
		{"**twin versions that went backwards**", fmt.Sprintf("**%d**", res.regressions)},
		{"patches before the device's full twin", fmt.Sprint(res.patchBeforeFull)},
		{"full twins sent again (resync after a kill or a full disk)", fmt.Sprint(res.resyncFulls)},
		{"telemetry (may be dropped: counted, not required)", fmt.Sprint(res.telemetry)},
		{"still in the gateway's outbox at the end (kept: sent at its next start; taken as delivered)", fmt.Sprint(res.leftInOutbox)},
	}
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
	}
	kinds := make([]string, 0, len(res.byKind))
	for k := range res.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	b.WriteString("\nBy kind (unique):")
	for _, k := range kinds {
		fmt.Fprintf(&b, " %s %d;", k, res.byKind[k])
	}
	b.WriteString("\n\n## The gateway process\n\n![memory, goroutines and open files](plot.svg)\n\n")
	b.WriteString(resourceTable(samples, events))
	b.WriteString("\n## Events\n\n| s | event | |\n|---|---|---|\n")
	for _, e := range events {
		fmt.Fprintf(&b, "| %.1f | %s | %s |\n", e.at.Seconds(), e.kind, e.detail)
	}
	if len(res.notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range res.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	require.NoError(r.t, os.WriteFile(filepath.Join(r.dir, "report.md"), []byte(b.String()), 0o644))
}

// resourceTable sums up the samples per gateway process (each start is a new one) and fits a line to
// the longest-lived process's second half: a leak shows as a slope.
func resourceTable(samples []sample, events []event) string {
	var b strings.Builder
	b.WriteString("| process (pid) | from s | samples | RSS MiB min / last / max | heap MiB min / max | goroutines min / max | open files min / max |\n|---|---|---|---|---|---|---|\n")
	var lives [][]sample
	for i, s := range samples {
		if i == 0 || s.pid != samples[i-1].pid {
			lives = append(lives, nil)
		}
		lives[len(lives)-1] = append(lives[len(lives)-1], s)
	}
	for _, l := range lives {
		rss := stats(l, func(s sample) float64 { return s.rssMiB })
		heap := stats(l, func(s sample) float64 { return s.heapMiB })
		g := stats(l, func(s sample) float64 { return float64(s.goroutines) })
		f := stats(l, func(s sample) float64 { return float64(s.fds) })
		fmt.Fprintf(&b, "| %d | %.0f | %d | %.1f / %.1f / %.1f | %.1f / %.1f | %.0f / %.0f | %.0f / %.0f |\n", l[0].pid, l[0].at.Seconds(),
			len(l), rss.min, l[len(l)-1].rssMiB, rss.max, heap.min, heap.max, g.min, g.max, f.min, f.max)
	}
	// Processes are killed every few minutes: fit the longest-lived one, after its warm-up (first half).
	var long []sample
	for _, l := range lives {
		if len(l) > 0 && (long == nil || l[len(l)-1].at-l[0].at > long[len(long)-1].at-long[0].at) {
			long = l
		}
	}
	if half := long[len(long)/2:]; len(long) > 0 && len(half) >= 3 {
		span := (half[len(half)-1].at - half[0].at).Hours()
		fmt.Fprintf(&b, "\nThe longest-lived process (%d), second half (%s): RSS %+.1f MiB/h, heap %+.1f MiB/h, goroutines %+.0f/h, open files %+.0f/h (least-squares slopes; flat is about 0, and a few minutes' fit is noisy: compare each process's max above, from first to last).\n",
			half[0].pid, time.Duration(span*float64(time.Hour)).Round(time.Second),
			slope(half, func(s sample) float64 { return s.rssMiB }), slope(half, func(s sample) float64 { return s.heapMiB }),
			slope(half, func(s sample) float64 { return float64(s.goroutines) }), slope(half, func(s sample) float64 { return float64(s.fds) }))
	}
	return b.String()
}

type minmax struct{ min, max float64 }

func stats(ss []sample, f func(sample) float64) minmax {
	m := minmax{math.Inf(1), math.Inf(-1)}
	for _, s := range ss {
		m.min, m.max = math.Min(m.min, f(s)), math.Max(m.max, f(s))
	}
	return m
}

// slope is the least-squares slope of f over time, per hour.
func slope(ss []sample, f func(sample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := s.at.Hours(), f(s)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// plotSVG draws three panels over the run's time — memory (RSS and live heap, MiB), goroutines, open
// files — with the faults marked: SIGKILLs red, broker restarts blue, full disk shaded orange, clock
// steps grey.
func plotSVG(samples []sample, events []event) string {
	const (
		w, left, right = 960.0, 70.0, 20.0
		panelH, gap    = 170.0, 40.0
		top            = 40.0
	)
	end := 1.0
	for _, s := range samples {
		end = math.Max(end, s.at.Seconds())
	}
	for _, e := range events {
		end = math.Max(end, e.at.Seconds())
	}
	x := func(sec float64) float64 { return left + (w-left-right)*sec/end }
	type series struct {
		name  string
		color string
		f     func(sample) float64
	}
	panels := []struct {
		title string
		lines []series
	}{
		{"memory (MiB)", []series{{"RSS", "#1f77b4", func(s sample) float64 { return s.rssMiB }}, {"live heap", "#2ca02c", func(s sample) float64 { return s.heapMiB }}}},
		{"goroutines", []series{{"goroutines", "#9467bd", func(s sample) float64 { return float64(s.goroutines) }}}},
		{"open files (sockets included)", []series{{"open files", "#8c564b", func(s sample) float64 { return float64(s.fds) }}}},
	}
	h := top + float64(len(panels))*(panelH+gap) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14">edgegw fault soak: the gateway process over time (s); red: SIGKILL, blue: broker restart, orange: disk full, grey: clock step</text>`+"\n", left)
	for i, p := range panels {
		y0 := top + float64(i)*(panelH+gap)
		ymax := 1.0
		for _, s := range samples {
			for _, l := range p.lines {
				ymax = math.Max(ymax, l.f(s))
			}
		}
		ymax = niceCeil(ymax * 1.1)
		y := func(v float64) float64 { return y0 + panelH - panelH*v/ymax }
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="12">%s</text>`+"\n", left, y0-6, html.EscapeString(p.title))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", left, y0, w-left-right, panelH)
		for k := 0; k <= 4; k++ {
			v := ymax * float64(k) / 4
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
				left, w-right, y(v), y(v), left-4, y(v)+4, trimFloat(v))
		}
		// Faults.
		var fullFrom float64 = -1
		for _, e := range events {
			ex := x(e.at.Seconds())
			switch e.kind {
			case "gateway SIGKILL":
				fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-width="1.5"/>`+"\n", ex, ex, y0, y0+panelH)
			case "broker stop":
				fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#1f77b4" stroke-dasharray="4 3"/>`+"\n", ex, ex, y0, y0+panelH)
			case "clock step":
				fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#7f7f7f" stroke-dasharray="1 3"/>`+"\n", ex, ex, y0, y0+panelH)
			case "disk full":
				fullFrom = ex
			case "disk freed":
				if fullFrom >= 0 {
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ff7f0e" fill-opacity="0.18"/>`+"\n", fullFrom, y0, ex-fullFrom, panelH)
					fullFrom = -1
				}
			}
		}
		// Lines, broken where the process changed (each start is a new one).
		for li, l := range p.lines {
			var pts []string
			flush := func() {
				if len(pts) > 1 {
					fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.3" points="%s"/>`+"\n", l.color, strings.Join(pts, " "))
				}
				pts = nil
			}
			for si, s := range samples {
				if si > 0 && s.pid != samples[si-1].pid {
					flush()
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.at.Seconds()), y(l.f(s))))
			}
			flush()
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="10" height="3" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
				w-right-150, y0+10+float64(li)*14, l.color, w-right-136, y0+14+float64(li)*14, html.EscapeString(l.name))
		}
	}
	yAxis := top + float64(len(panels))*(panelH+gap) - gap + 14
	for k := 0; k <= 8; k++ {
		sec := end * float64(k) / 8
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(sec), yAxis, trimFloat(math.Round(sec)))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
