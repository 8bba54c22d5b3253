package main

import (
	"strings"
	"testing"
)

func TestFigureSVGIsDeterministicAndWellFormed(t *testing.T) {
	t.Parallel()
	f := figure{file: "x.svg", title: "A & B", xLabel: "PRs", panels: []panel{
		{yLabel: "s", logY: true, series: []series{
			{name: "ours", x: []float64{10, 50, 200}, y: []float64{0.2, 0.3, 0.45}, lo: []float64{0.19, 0.28, 0.4}, hi: []float64{0.25, 0.33, 0.5}, color: palette[0], marks: true},
			{name: "legacy", x: []float64{10, 50, 200}, y: []float64{2, 10, 40}, color: palette[1], dash: true},
		}},
		{yLabel: "n", series: []series{{name: "g", x: []float64{10, 200}, y: []float64{400, 410}, color: palette[2]}}},
	}}
	a, b := f.svg(), f.svg()
	if a != b {
		t.Fatal("two renderings of one figure differ")
	}
	for _, want := range []string{"<svg ", "</svg>", "A &amp; B", "<polyline", "stroke-dasharray", ">10<", ">100<"} {
		if !strings.Contains(a, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if strings.Contains(a, "NaN") || strings.Contains(a, "Inf") {
		t.Error("SVG holds NaN or Inf")
	}
}

func TestAxes(t *testing.T) {
	t.Parallel()
	if a := linearAxis(0, 203); a.lo != 0 || a.hi != 250 || len(a.ticks) != 6 {
		t.Errorf("linearAxis(0, 203) = %+v; want 0…250 in steps of 50", a)
	}
	if a := logAxis(0.19, 42); a.lo != 0.1 || a.hi != 100 || a.ticks[0] != 0.1 || a.ticks[len(a.ticks)-1] != 100 {
		t.Errorf("logAxis(0.19, 42) = %+v; want 0.1…100", a)
	}
}
