package main

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

type ratio struct {
	Name         string
	Value, Limit float64
	AtMost       bool // the goal is Value ≤ Limit (else Value ≥ Limit)
}

// chart draws p50/p90/p99 per run on a log scale, and the target ratios against their limits,
// as a dependency-free SVG.
func chart(rows []result, ratios []ratio, machine string) string {
	const left, barW, rowH = 360, 520, 34
	height := 70 + rowH*len(rows) + 60 + rowH*len(ratios) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, left+barW+120, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="15" font-weight="bold">Latency per run (log scale: p50, p90, p99)</text>`)
	fmt.Fprintf(&b, `<text x="10" y="38" fill="#555">%s</text>`, html.EscapeString(machine))
	lo, hi := math.Log10(0.1), math.Log10(2000.0) // 0.1 ms .. 2 s
	x := func(d time.Duration) float64 {
		v := math.Log10(math.Max(float64(d.Microseconds())/1000, 0.1))
		return left + barW*math.Min((v-lo)/(hi-lo), 1)
	}
	for _, t := range []float64{0.1, 1, 10, 100, 1000} {
		px := left + barW*(math.Log10(t)-lo)/(hi-lo)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="48" x2="%.0f" y2="%d" stroke="#ddd"/><text x="%.0f" y="58" fill="#777">%g ms</text>`, px, px, 60+rowH*len(rows), px-10, t)
	}
	colors := []string{"#4c78a8", "#f58518", "#e45756"}
	for i, r := range rows {
		y := 66 + i*rowH
		// The load goes on a second, smaller line: names plus loads outgrow the label column. It
		// sits just below the bars (which end at y+20), so a long one may run on under them.
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text><text x="10" y="%d" font-size="10" fill="#777">%s</text>`,
			y+11, html.EscapeString(r.Name), y+29, html.EscapeString(r.Load))
		for j, d := range []time.Duration{r.P99, r.P90, r.P50} {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="18" fill="%s"/>`, left, y+2, x(d)-left, colors[2-j])
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" fill="#333">p99 %s</text>`, x(r.P99)+4, y+15, ms(r.P99))
	}
	y := 66 + rowH*len(rows) + 20
	fmt.Fprintf(&b, `<text x="10" y="%d" font-size="15" font-weight="bold">Target ratios (bar) and their limits (black line)</text>`, y)
	for i, q := range ratios {
		ry := y + 12 + i*rowH
		scale := func(v float64) float64 { return left + barW*math.Min(v/3.5, 1) }
		color := "#54a24b"
		if (q.AtMost && q.Value > q.Limit) || (!q.AtMost && q.Value < q.Limit) {
			color = "#e45756"
		}
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text><rect x="%d" y="%d" width="%.0f" height="18" fill="%s"/>`, ry+14, html.EscapeString(q.Name), left, ry+2, scale(q.Value)-left, color)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%d" x2="%.0f" y2="%d" stroke="black" stroke-width="2"/><text x="%.0f" y="%d">%.2f</text>`, scale(q.Limit), ry, scale(q.Limit), ry+22, scale(q.Value)+6, ry+15, q.Value)
	}
	b.WriteString(`</svg>`)
	return b.String()
}
