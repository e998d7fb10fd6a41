package evaluate

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"time"
)

// Series is one term's score over time.
type Series struct {
	Name  string
	Color color.RGBA
	// Times and Values are the windows; a NaN value (the term was not
	// scored in that window) is drawn as a gap.
	Times  []time.Time
	Values []float64
	// Onset, if set, is marked by a vertical line in the series' colour.
	Onset time.Time
}

// Palette gives plotted series distinguishable colours (named in EVAL.md).
var Palette = []color.RGBA{
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0x94, 0x67, 0xbd, 0xff}, // purple
	{0xff, 0x7f, 0x0e, 0xff}, // orange
}

// PaletteNames names Palette's colours for the legend.
var PaletteNames = []string{"red", "blue", "green", "purple", "orange"}

// Plot draws series on a w×h PNG from start to end: a horizontal grey line
// at threshold, a black one at zero, and each series as a polyline. It has
// no text; the legend goes next to the image.
func Plot(out io.Writer, series []Series, threshold float64, start, end time.Time, w, h int) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	lo, hi := math.Min(0, threshold), threshold
	for _, s := range series {
		for _, v := range s.Values {
			if math.IsNaN(v) {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	hi += (hi - lo) * 0.05
	const margin = 10
	x := func(t time.Time) int {
		return margin + int(float64(w-2*margin)*float64(t.Sub(start))/float64(end.Sub(start)))
	}
	y := func(v float64) int {
		return h - margin - int(float64(h-2*margin)*(v-lo)/(hi-lo))
	}
	grey, black := color.RGBA{0xaa, 0xaa, 0xaa, 0xff}, color.RGBA{0, 0, 0, 0xff}
	for px := margin; px < w-margin; px++ {
		if (px/6)%2 == 0 {
			img.Set(px, y(threshold), grey)
		}
		img.Set(px, y(0), black)
	}
	for _, s := range series {
		if !s.Onset.IsZero() {
			light := s.Color
			light.A = 0x60
			for py := margin; py < h-margin; py += 3 {
				img.Set(x(s.Onset), py, light)
			}
		}
		for i := 1; i < len(s.Times); i++ {
			if math.IsNaN(s.Values[i-1]) || math.IsNaN(s.Values[i]) {
				continue
			}
			line(img, x(s.Times[i-1]), y(s.Values[i-1]), x(s.Times[i]), y(s.Values[i]), s.Color)
		}
	}
	return png.Encode(out, img)
}

// line draws a 2-pixel-thick line with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

func sign(a int) int {
	switch {
	case a < 0:
		return -1
	case a > 0:
		return 1
	}
	return 0
}
