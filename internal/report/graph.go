package report

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/diff"
)

// MarkSome is a group cell where some connections between the two groups
// are allowed and some are not.
const MarkSome = "◐"

// GroupMark is the cell of a group matrix: ✓ all, ◐ some, ✗ none.
func GroupMark(cell string) string {
	switch cell {
	case analysis.CellAll:
		return MarkAllowed
	case analysis.CellSome:
		return MarkSome
	}
	return MarkDenied
}

// The Okabe-Ito palette: told apart with every common colour vision
// deficiency; each cell also carries a glyph, so colour is never alone.
const (
	colourAll     = "#0072B2" // blue
	colourSome    = "#E69F00" // orange
	colourNone    = "#F2F2F2" // near white
	colourAdded   = "#009E73" // bluish green
	colourRemoved = "#D55E00" // vermillion
	colourBoth    = "#CC79A7" // reddish purple
)

// Grid is a matrix drawn as an SVG: rows are sources, columns destinations.
type Grid struct {
	Title  string
	Rows   []string // also the columns
	Cells  [][]GridCell
	Legend []GridCell // Title says what each mark means
}

// GridCell is one square: a fill, a glyph, and a tooltip.
type GridCell struct {
	Fill, Glyph, Ink, Title string
}

// SVG draws the grid by hand (no graphviz): fixed 16 px rows so that 50 or
// 500 rows stay legible when zoomed, labels left of the rows and above the
// columns (rotated), a tooltip on every cell.
func SVG(w io.Writer, g Grid) error {
	const cell, font = 16, 11
	label := 0
	for _, r := range g.Rows {
		label = max(label, len([]rune(r)))
	}
	left := 12 + label*font*6/10
	top := 30 + left // the column labels are the row labels, rotated
	n := len(g.Rows)
	width := left + n*cell + 20
	legendH := 20 * (len(g.Legend) + 1)
	height := top + n*cell + legendH + 10
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Verdana, sans-serif" font-size="%d">`+"\n",
		width, height, width, height, font)
	fmt.Fprintf(bw, `<title>%s</title>`+"\n", html.EscapeString(g.Title))
	fmt.Fprintf(bw, `<text x="6" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", html.EscapeString(g.Title))
	for i, r := range g.Rows {
		y := top + i*cell + cell - 4
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-4, y, html.EscapeString(r))
		x := left + i*cell + cell - 4
		fmt.Fprintf(bw, `<text x="%d" y="%d" transform="rotate(-60 %d %d)">%s</text>`+"\n", x, top-4, x, top-4, html.EscapeString(r))
	}
	for i, row := range g.Cells {
		for j, c := range row {
			x, y := left+j*cell, top+i*cell
			fmt.Fprintf(bw, `<g><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#FFFFFF"/>`, html.EscapeString(c.Title), x, y, cell, cell, c.Fill)
			if c.Glyph != "" {
				fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="middle" fill="%s">%s</text>`, x+cell/2, y+cell-4, c.Ink, html.EscapeString(c.Glyph))
			}
			bw.WriteString("</g>\n")
		}
	}
	y := top + n*cell + 20
	fmt.Fprintf(bw, `<text x="6" y="%d">rows: from, columns: to</text>`+"\n", y)
	for _, l := range g.Legend {
		y += 20
		fmt.Fprintf(bw, `<rect x="6" y="%d" width="%d" height="%d" fill="%s" stroke="#999999"/><text x="%d" y="%d" text-anchor="middle" fill="%s">%s</text><text x="%d" y="%d">%s</text>`+"\n",
			y-12, cell, cell, l.Fill, 6+cell/2, y, l.Ink, html.EscapeString(l.Glyph), 12+cell, y, html.EscapeString(l.Title))
	}
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

// MatrixGrid is a group matrix as a grid.
func MatrixGrid(gm *analysis.GroupMatrix) Grid {
	g := Grid{Title: fmt.Sprintf("%s/%d by %s", gm.Protocol, gm.Port, gm.By), Rows: labelsWithSizes(gm)}
	for a := range gm.Groups {
		row := make([]GridCell, len(gm.Groups))
		for b := range gm.Groups {
			c := groupGridCell(gm.Cells[a][b])
			c.Title = fmt.Sprintf("%s → %s: %d of %d allowed", gm.Groups[a], gm.Groups[b], gm.Allowed[a][b], gm.Pairs[a][b])
			row[b] = c
		}
		g.Cells = append(g.Cells, row)
	}
	for _, k := range []string{analysis.CellAll, analysis.CellSome, analysis.CellNone} {
		c := groupGridCell(k)
		c.Title = map[string]string{analysis.CellAll: "all connections allowed", analysis.CellSome: "some allowed", analysis.CellNone: "none allowed"}[k]
		g.Legend = append(g.Legend, c)
	}
	return g
}

func labelsWithSizes(gm *analysis.GroupMatrix) []string {
	out := make([]string, len(gm.Groups))
	for i, n := range gm.Groups {
		out[i] = n
		if gm.By != analysis.ByPod {
			out[i] += " ×" + strconv.Itoa(gm.Sizes[i])
		}
	}
	return out
}

func groupGridCell(cell string) GridCell {
	switch cell {
	case analysis.CellAll:
		return GridCell{Fill: colourAll, Glyph: MarkAllowed, Ink: "#FFFFFF"}
	case analysis.CellSome:
		return GridCell{Fill: colourSome, Glyph: MarkSome, Ink: "#000000"}
	}
	return GridCell{Fill: colourNone, Glyph: "", Ink: "#000000"}
}

// MatrixDOT writes a group matrix as a graphviz digraph: an edge for every
// pair of groups with an allowed connection, dashed when only some are.
func MatrixDOT(w io.Writer, gm *analysis.GroupMatrix) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "digraph matrix {\n  label=%s;\n  node [shape=box, fontname=\"DejaVu Sans\"];\n", strconv.Quote(fmt.Sprintf("%s/%d by %s", gm.Protocol, gm.Port, gm.By)))
	for i, g := range labelsWithSizes(gm) {
		fmt.Fprintf(bw, "  n%d [label=%s];\n", i, strconv.Quote(g))
	}
	for a := range gm.Groups {
		for b := range gm.Groups {
			switch gm.Cells[a][b] {
			case analysis.CellAll:
				fmt.Fprintf(bw, "  n%d -> n%d [color=%q];\n", a, b, colourAll)
			case analysis.CellSome:
				fmt.Fprintf(bw, "  n%d -> n%d [color=%q, style=dashed, label=\"%d/%d\"];\n", a, b, colourSome, gm.Allowed[a][b], gm.Pairs[a][b])
			}
		}
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// diffCells folds a diff's changes onto workload pairs.
func diffCells(r *diff.Result) (names []string, cells map[[2]int][2]int) {
	idx := map[string]int{}
	id := func(n string) int {
		i, ok := idx[n]
		if !ok {
			i = len(names)
			idx[n] = i
			names = append(names, n)
		}
		return i
	}
	cells = map[[2]int][2]int{}
	for _, c := range r.Changes {
		k := [2]int{id(c.From), id(c.To)}
		v := cells[k]
		if c.Allowed {
			v[0]++
		} else {
			v[1]++
		}
		cells[k] = v
	}
	return names, cells
}

// DiffSVG draws which workload pairs gained (green +) or lost (vermillion
// −) connections, or both (purple ±).
func DiffSVG(w io.Writer, r *diff.Result) error {
	names, cells := diffCells(r)
	g := Grid{Title: fmt.Sprintf("%s → %s", r.Old, r.New), Rows: names}
	for a := range names {
		row := make([]GridCell, len(names))
		for b := range names {
			v := cells[[2]int{a, b}]
			c := GridCell{Fill: colourNone}
			switch {
			case v[0] > 0 && v[1] > 0:
				c = GridCell{Fill: colourBoth, Glyph: "±", Ink: "#000000"}
			case v[0] > 0:
				c = GridCell{Fill: colourAdded, Glyph: "+", Ink: "#000000"}
			case v[1] > 0:
				c = GridCell{Fill: colourRemoved, Glyph: "−", Ink: "#FFFFFF"}
			}
			var lines []string
			for _, ch := range r.Changes {
				if ch.From == names[a] && ch.To == names[b] {
					lines = append(lines, changeLine(ch))
				}
			}
			c.Title = strings.Join(lines, "\n")
			if c.Title == "" {
				c.Title = names[a] + " → " + names[b] + ": unchanged"
			}
			row[b] = c
		}
		g.Cells = append(g.Cells, row)
	}
	g.Legend = []GridCell{
		{Fill: colourAdded, Glyph: "+", Ink: "#000000", Title: "newly allowed"},
		{Fill: colourRemoved, Glyph: "−", Ink: "#FFFFFF", Title: "newly denied"},
		{Fill: colourBoth, Glyph: "±", Ink: "#000000", Title: "both, on different ports"},
	}
	return SVG(w, g)
}

// DiffDOT writes the changes as a digraph: green edges newly allowed,
// vermillion dashed edges newly denied, labelled with the ports.
func DiffDOT(w io.Writer, r *diff.Result) error {
	names, _ := diffCells(r)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "digraph diff {\n  label=%s;\n  node [shape=box, fontname=\"DejaVu Sans\"];\n", strconv.Quote(r.Old+" → "+r.New))
	idx := map[string]int{}
	for i, n := range names {
		idx[n] = i
		fmt.Fprintf(bw, "  n%d [label=%s];\n", i, strconv.Quote(n))
	}
	for _, c := range r.Changes {
		label := strconv.Quote(c.Protocol + " " + c.Ports())
		if c.Allowed {
			fmt.Fprintf(bw, "  n%d -> n%d [color=%q, label=%s];\n", idx[c.From], idx[c.To], colourAdded, label)
		} else {
			fmt.Fprintf(bw, "  n%d -> n%d [color=%q, style=dashed, label=%s];\n", idx[c.From], idx[c.To], colourRemoved, label)
		}
	}
	bw.WriteString("}\n")
	return bw.Flush()
}
