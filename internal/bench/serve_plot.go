package bench

import (
	"fmt"
	"math"
	"strings"
)

// serveLagGoal is the most an invoice should wait at 500 bookings/s; the
// plot draws it as a dashed line.
const serveLagGoal = 10.0

// serveLagSVG draws each backend's email lag (seconds the oldest waiting
// invoice job has been due) over the seconds since the load began, with
// the 10 s goal dashed and the end of the load dotted.
func serveLagSVG(results []*ServeResult) []byte {
	const (
		w, h                     = 860.0, 420.0
		left, right, top, bottom = 60.0, 200.0, 30.0, 50.0
	)
	maxT, maxLag, load := 1.0, serveLagGoal*1.5, 0.0
	for _, r := range results {
		load = max(load, r.DurationS)
		for _, s := range r.Samples {
			maxT = max(maxT, s.AtS)
			maxLag = max(maxLag, s.LagS)
		}
	}
	maxT = max(maxT, load)
	stepY := niceStep(maxLag)
	maxLag = math.Ceil(maxLag/stepY) * stepY
	x := func(t float64) float64 { return left + t/maxT*(w-left-right) }
	y := func(v float64) float64 { return h - bottom - v/maxLag*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="white"/>`+"\n", w, h)
	title := "tripin serve: email lag under POST /api/bookings load"
	if len(results) > 0 && results[0].Rate > 0 {
		title = fmt.Sprintf("%s at %d/s", title, results[0].Rate)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14">%s</text>`+"\n", left, svgEscape(title))
	for v := 0.0; v <= maxLag+1e-9; v += stepY {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), w-right, y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%g s</text>`+"\n", left-6, y(v)+4, v)
	}
	stepX := niceStep(maxT)
	for t := 0.0; t <= maxT+1e-9; t += stepX {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x(t), top, x(t), h-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", x(t), h-bottom+16, t)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">seconds since the load began</text>`+"\n", x(maxT/2), h-12)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="6 4"/>`+"\n", left, y(serveLagGoal), w-right, y(serveLagGoal))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#c00">10 s goal</text>`+"\n", w-right+6, y(serveLagGoal)+4)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="2 3"/>`+"\n", x(load), top, x(load), h-bottom)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#888" text-anchor="end">load ends</text>`+"\n", x(load)-4, top+12)
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"}
	for i, r := range results {
		c := colors[i%len(colors)]
		pts := make([]string, 0, len(r.Samples))
		peak := 0.0
		for _, s := range r.Samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.AtS), y(s.LagS)))
			peak = max(peak, s.LagS)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s (max %.0f s)</text>`+"\n", w-right+6, top+30+float64(i)*18, c, svgEscape(r.Backend), peak)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// niceStep is a grid step of 1, 2 or 5 times a power of ten that cuts
// span into at most ten parts.
func niceStep(span float64) float64 {
	if span <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(span/10)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(m*p) <= 10 {
			return m * p
		}
	}
	return 10 * p
}
