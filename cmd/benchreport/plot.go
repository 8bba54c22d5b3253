package main

// SVG plots of the measurements, written by hand (no dependency): line charts with
// one or more panels sharing the x axis. The output depends on the figures only, so
// the same figures give the same bytes.

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/internetarchive/testingd/internal/load"
)

type series struct {
	name   string
	x, y   []float64
	lo, hi []float64 // optional: a bar from lo to hi at each point (min–max)
	color  string
	dash   bool
	marks  bool // a dot at each point
}

type panel struct {
	yLabel string
	logY   bool
	yMin   float64 // the y axis starts here on a linear axis (usually 0)
	series []series
}

type figure struct {
	file   string // e.g. cold-vs-prs.svg
	alt    string // the Markdown image's text
	title  string
	xLabel string
	panels []panel
}

const (
	plotW       = 760
	panelH      = 250
	marginL     = 72
	marginR     = 24
	marginTop   = 44 // title
	panelGap    = 40
	marginB     = 48 // x labels
	legendLineH = 16
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// num prints a coordinate: fixed precision, so the output is deterministic.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceStep is a step of 1, 2 or 5 × 10^k giving about n intervals over span.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// tickLabel prints a tick value without needless decimals.
func tickLabel(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000 && v == math.Trunc(v):
		return thousands(v)
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

type axis struct {
	lo, hi float64
	log    bool
	ticks  []float64
}

func (a axis) pos(v float64, from, to float64) float64 {
	if a.log {
		v, lo, hi := math.Log10(math.Max(v, a.lo)), math.Log10(a.lo), math.Log10(a.hi)
		return from + (v-lo)/(hi-lo)*(to-from)
	}
	return from + (v-a.lo)/(a.hi-a.lo)*(to-from)
}

func linearAxis(lo, hi float64) axis {
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep(hi-lo, 5)
	a := axis{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi/step) * step}
	for v := a.lo; v <= a.hi+step/1e6; v += step {
		a.ticks = append(a.ticks, math.Round(v/step)*step)
	}
	return a
}

func logAxis(lo, hi float64) axis {
	lo, hi = math.Max(lo, 1e-9), math.Max(hi, 1e-9)
	a := axis{log: true, lo: math.Pow(10, math.Floor(math.Log10(lo))), hi: math.Pow(10, math.Ceil(math.Log10(hi)))}
	if a.hi <= a.lo {
		a.hi = a.lo * 10
	}
	decades := math.Round(math.Log10(a.hi / a.lo))
	for d := a.lo; d <= a.hi*1.0001; d *= 10 {
		a.ticks = append(a.ticks, d)
		if decades <= 3 {
			for _, m := range []float64{2, 5} {
				if d*m < a.hi {
					a.ticks = append(a.ticks, d*m)
				}
			}
		}
	}
	slices.Sort(a.ticks)
	return a
}

func (f figure) svg() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	// The legend: as many entries to a row as their longest name allows.
	longest := 0
	for _, p := range f.panels {
		for _, s := range p.series {
			longest = max(longest, len([]rune(s.name)))
		}
	}
	perRow := max(1, min(3, int(float64(plotW-marginL-marginR)/(float64(longest)*7+40))))
	legendRows := 0
	for _, p := range f.panels {
		legendRows = max(legendRows, (len(p.series)+perRow-1)/perRow)
	}
	ph := panelH + legendRows*legendLineH
	height := marginTop + len(f.panels)*ph + (len(f.panels)-1)*panelGap + marginB
	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, plotW, height, plotW, height)
	w(`<rect width="100%%" height="100%%" fill="#fff"/>`)
	w(`<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`, marginL, html.EscapeString(f.title))

	// One x axis for every panel.
	var xs []float64
	for _, p := range f.panels {
		for _, s := range p.series {
			xs = append(xs, s.x...)
		}
	}
	if len(xs) == 0 {
		w(`</svg>`)
		return b.String()
	}
	xa := linearAxis(math.Min(0, slices.Min(xs)), slices.Max(xs))
	x0, x1 := float64(marginL), float64(plotW-marginR)

	for i, p := range f.panels {
		top := float64(marginTop + i*(ph+panelGap))
		// The legend, above the plot area.
		for j, s := range p.series {
			lx := x0 + float64(j%perRow)*((x1-x0)/float64(perRow))
			ly := top + float64(j/perRow)*legendLineH + 10
			dash := ""
			if s.dash {
				dash = ` stroke-dasharray="6 4"`
			}
			w(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`, num(lx), num(ly-4), num(lx+22), num(ly-4), s.color, dash)
			w(`<text x="%s" y="%s">%s</text>`, num(lx+28), num(ly), html.EscapeString(s.name))
		}
		y0 := top + float64(legendRows*legendLineH) + 6 // plot area top
		y1 := top + float64(ph)                         // plot area bottom

		var ys []float64
		for _, s := range p.series {
			for k, v := range s.y {
				ys = append(ys, v)
				if s.hi != nil {
					ys = append(ys, s.hi[k], s.lo[k])
				}
			}
		}
		var ya axis
		if p.logY {
			var pos []float64
			for _, v := range ys {
				if v > 0 {
					pos = append(pos, v)
				}
			}
			if len(pos) == 0 {
				pos = []float64{1}
			}
			ya = logAxis(slices.Min(pos), slices.Max(pos))
		} else {
			ya = linearAxis(math.Min(p.yMin, slices.Min(ys)), slices.Max(ys)*1.05)
		}
		py := func(v float64) float64 { return ya.pos(v, y1, y0) }
		px := func(v float64) float64 { return xa.pos(v, x0, x1) }

		// Grid and y ticks.
		for _, t := range ya.ticks {
			y := py(t)
			w(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`, num(x0), num(y), num(x1), num(y))
			w(`<text x="%s" y="%s" text-anchor="end">%s</text>`, num(x0-6), num(y+4), tickLabel(t))
		}
		for _, t := range xa.ticks {
			x := px(t)
			w(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#f0f0f0"/>`, num(x), num(y0), num(x), num(y1))
			if i == len(f.panels)-1 {
				w(`<text x="%s" y="%s" text-anchor="middle">%s</text>`, num(x), num(y1+16), tickLabel(t))
			}
		}
		w(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#888"/>`, num(x0), num(y0), num(x1-x0), num(y1-y0))
		w(`<text transform="translate(16 %s) rotate(-90)" text-anchor="middle">%s</text>`, num((y0+y1)/2), html.EscapeString(p.yLabel))

		for _, s := range p.series {
			if len(s.x) == 0 {
				continue
			}
			pts := make([]string, len(s.x))
			for k := range s.x {
				pts[k] = num(px(s.x[k])) + "," + num(py(s.y[k]))
			}
			dash := ""
			if s.dash {
				dash = ` stroke-dasharray="6 4"`
			}
			w(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.Join(pts, " "), s.color, dash)
			for k := range s.x {
				if s.hi != nil {
					w(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, num(px(s.x[k])), num(py(s.lo[k])), num(px(s.x[k])), num(py(s.hi[k])), s.color)
				}
				if s.marks {
					w(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`, num(px(s.x[k])), num(py(s.y[k])), s.color)
				}
			}
		}
	}
	w(`<text x="%s" y="%d" text-anchor="middle">%s</text>`, num((x0+x1)/2), height-10, html.EscapeString(f.xLabel))
	w(`</svg>`)
	return b.String()
}

// plots are the figures of this report: the cold resolve against the set size, and
// the soak's throughput, latency, memory and goroutines over time.
func (r *report) plots() ([]figure, error) {
	var figs []figure
	if len(r.cold) >= 2 {
		var n, med, lo, hi, legacy, legacyN []float64
		for _, c := range r.cold {
			lats := c.latencies()
			n = append(n, float64(c.n))
			med = append(med, c.median().Seconds())
			lo = append(lo, slices.Min(lats).Seconds())
			hi = append(hi, slices.Max(lats).Seconds())
			if c.baseline > 0 {
				legacyN = append(legacyN, float64(c.n))
				legacy = append(legacy, c.baseline.Seconds())
			}
		}
		ss := []series{{name: fmt.Sprintf("testingd, median of %d (bar: min–max)", r.cfg.reps), x: n, y: med, lo: lo, hi: hi, color: palette[0], marks: true}}
		if len(legacy) > 0 {
			ss = append(ss, series{name: "legacy sequential (one pass)", x: legacyN, y: legacy, color: palette[1], marks: true, dash: true})
		}
		figs = append(figs, figure{
			file:   "cold-vs-prs.svg",
			alt:    "Cold GetStatus time against the number of PRs, testingd and the legacy sequential algorithm",
			title:  fmt.Sprintf("Cold GetStatus against set size (GitHub answers after %s)", fd(r.cfg.latency)),
			xLabel: "PRs in the set",
			panels: []panel{{yLabel: "seconds (log scale)", logY: true, series: ss}},
		})
	}
	if r.soak != nil && len(r.soak.res.Intervals) >= 2 {
		ivs := r.soak.res.Intervals
		t := make([]float64, len(ivs))
		col := func(f func(load.SoakInterval) float64) []float64 {
			out := make([]float64, len(ivs))
			for i, iv := range ivs {
				out[i] = f(iv)
			}
			return out
		}
		for i, iv := range ivs {
			t[i] = iv.At.Seconds()
		}
		msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		figs = append(figs, figure{
			file:   "soak-latency.svg",
			alt:    "Throughput and latency percentiles of reads and writes during the soak",
			title:  fmt.Sprintf("Soak: %d readers, %d writers, %d WatchStatus streams (testingd binary, 50 PRs)", r.cfg.soakReaders, r.cfg.soakWriters, r.cfg.soakWatchers),
			xLabel: fmt.Sprintf("seconds into the soak (one point per %s interval)", r.cfg.soakSample),
			panels: []panel{
				{yLabel: "per second", series: []series{
					{name: "GetStatus calls", x: t, y: col(func(iv load.SoakInterval) float64 { return iv.ReadRPS() }), color: palette[0]},
					{name: "statuses pushed to streams", x: t, y: col(func(iv load.SoakInterval) float64 { return float64(iv.Pushes) / iv.Elapsed.Seconds() }), color: palette[2]},
				}},
				{yLabel: "latency, ms (log scale)", logY: true, series: []series{
					{name: "GetStatus p50", x: t, y: col(func(iv load.SoakInterval) float64 { return msOf(iv.Reads.P50) }), color: palette[0]},
					{name: "GetStatus p90", x: t, y: col(func(iv load.SoakInterval) float64 { return msOf(iv.Reads.P90) }), color: palette[4]},
					{name: "GetStatus p99", x: t, y: col(func(iv load.SoakInterval) float64 { return msOf(iv.Reads.P99) }), color: palette[1]},
					{name: "write p50", x: t, y: col(func(iv load.SoakInterval) float64 { return msOf(iv.Writes.P50) }), color: palette[3], dash: true},
					{name: "write p99", x: t, y: col(func(iv load.SoakInterval) float64 { return msOf(iv.Writes.P99) }), color: palette[5], dash: true},
				}},
			},
		})
		before := float64(r.soak.res.Before.Goroutines)
		figs = append(figs, figure{
			file:   "soak-memory.svg",
			alt:    "Memory and goroutines of the testingd binary during the soak",
			title:  "Soak: testingd's memory and goroutines over time",
			xLabel: fmt.Sprintf("seconds into the soak (sampled every %s)", r.cfg.soakSample),
			panels: []panel{
				{yLabel: "MiB", series: []series{
					{name: "RSS (/proc)", x: t, y: col(func(iv load.SoakInterval) float64 { return float64(iv.Server.RSS) / (1 << 20) }), color: palette[0], marks: true},
					{name: "Go heap in use", x: t, y: col(func(iv load.SoakInterval) float64 { return float64(iv.Server.HeapInuse) / (1 << 20) }), color: palette[2], marks: true},
				}},
				{yLabel: "goroutines", series: []series{
					{name: "goroutines", x: t, y: col(func(iv load.SoakInterval) float64 { return float64(iv.Server.Goroutines) }), color: palette[4], marks: true},
					{name: "before the soak (idle)", x: []float64{t[0], t[len(t)-1]}, y: []float64{before, before}, color: "#777", dash: true},
				}},
			},
		})
	}
	return figs, nil
}

func writePlots(dir string, figs []figure) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range figs {
		if err := os.WriteFile(filepath.Join(dir, f.file), []byte(f.svg()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func plotNames(figs []figure) map[string]figure {
	m := map[string]figure{}
	for _, f := range figs {
		m[f.file] = f
	}
	return m
}

// relDir is dir relative to the directory of the Markdown file out, with slashes.
func relDir(out, dir string) string {
	if out == "" {
		return filepath.ToSlash(dir)
	}
	rel, err := filepath.Rel(filepath.Dir(out), dir)
	if err != nil {
		return filepath.ToSlash(dir)
	}
	return filepath.ToSlash(rel)
}

// image is the Markdown embedding plot file, or "" when it was not made.
func (r *report) image(file string) string {
	f, ok := r.plotNames[file]
	if !ok {
		return ""
	}
	return fmt.Sprintf("![%s](%s/%s)", f.alt, r.plotDir, f.file)
}
