package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/palisade-net/palisade/internal/analysis"
)

// MatrixJSON writes the contract's object (DESIGN.md) with one row of the
// matrix a line: the same JSON as before, but a 5k-pod matrix is 5k lines of
// 5k booleans rather than 25 million lines of one.
func MatrixJSON(w io.Writer, m *analysis.Matrix) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	writeMatrixJSON(bw, m, "")
	bw.WriteString("\n")
	return bw.Flush()
}

// MatricesJSON writes {"matrices": [...]} of the same objects.
func MatricesJSON(w io.Writer, ms []*analysis.Matrix) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString("{\n  \"matrices\": [")
	for i, m := range ms {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n    ")
		writeMatrixJSON(bw, m, "    ")
	}
	if len(ms) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}

func writeMatrixJSON(bw *bufio.Writer, m *analysis.Matrix, indent string) {
	proto, _ := json.Marshal(m.Protocol)
	fmt.Fprintf(bw, "{\n%s  \"protocol\": %s,\n%s  \"port\": %d,\n%s  \"pods\": [", indent, proto, indent, m.Port, indent)
	for i, p := range m.Pods {
		if i > 0 {
			bw.WriteString(",")
		}
		b, _ := json.Marshal(p)
		bw.WriteString("\n" + indent + "    ")
		bw.Write(b)
	}
	if len(m.Pods) > 0 {
		bw.WriteString("\n" + indent + "  ")
	}
	bw.WriteString("],\n" + indent + "  \"matrix\": [")
	for i, row := range m.Matrix {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n" + indent + "    [")
		for j, ok := range row {
			if j > 0 {
				bw.WriteString(", ")
			}
			if ok {
				bw.WriteString("true")
			} else {
				bw.WriteString("false")
			}
		}
		bw.WriteString("]")
	}
	if len(m.Matrix) > 0 {
		bw.WriteString("\n" + indent + "  ")
	}
	bw.WriteString("]\n" + indent + "}")
}

// numberedAfter is the width beyond which a table numbers its columns
// instead of naming them: past it, one name per column made 1,315-column
// lines at 50 pods.
const numberedAfter = 12

// GroupLegend explains the marks of a group matrix.
func GroupLegend(gm *analysis.GroupMatrix) string {
	return fmt.Sprintf("rows: from, columns: to, by %s; %s all, %s some, %s none of the connections between distinct pods allowed",
		gm.By, MarkAllowed, MarkSome, MarkDenied)
}

// GroupTable renders a group matrix; past numberedAfter groups the columns
// are numbered and the rows carry the numbers.
func GroupTable(w io.Writer, gm *analysis.GroupMatrix) error {
	labels := labelsWithSizes(gm)
	marks := make([][]string, len(gm.Groups))
	for a := range gm.Groups {
		marks[a] = make([]string, len(gm.Groups))
		for b := range gm.Groups {
			marks[a][b] = GroupMark(gm.Cells[a][b])
		}
	}
	if err := table(w, fmt.Sprintf("%s/%d", gm.Protocol, gm.Port), labels, marks); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, GroupLegend(gm))
	return err
}

// table writes rows of marks under column headers: names when few, numbers
// (with the number before each row's name) when many.
func table(w io.Writer, corner string, labels []string, marks [][]string) error {
	bw := bufio.NewWriter(w)
	width := 0
	for _, l := range labels {
		width = max(width, len([]rune(l)))
	}
	if len(labels) <= numberedAfter {
		width = max(width, len([]rune(corner)))
		cols := make([]int, len(labels))
		fmt.Fprintf(bw, "%s", pad(corner, width))
		for j, l := range labels {
			cols[j] = len([]rune(l))
			fmt.Fprintf(bw, " %s", l)
		}
		bw.WriteString("\n")
		for i, row := range marks {
			bw.WriteString(pad(labels[i], width))
			for j, m := range row {
				bw.WriteString(" " + pad(m, cols[j]))
			}
			bw.WriteString("\n")
		}
		return bw.Flush()
	}
	digits := len(strconv.Itoa(len(labels)))
	cell := digits
	head := digits + 1 + width
	fmt.Fprintf(bw, "%s", pad(corner, head))
	for j := range labels {
		fmt.Fprintf(bw, " %*d", cell, j+1)
	}
	bw.WriteString("\n")
	for i, row := range marks {
		fmt.Fprintf(bw, "%*d %s", digits, i+1, pad(labels[i], width))
		for _, m := range row {
			fmt.Fprintf(bw, " %s%s", strings.Repeat(" ", cell-1), m)
		}
		bw.WriteString("\n")
	}
	fmt.Fprintf(bw, "columns are numbered as the rows\n")
	return bw.Flush()
}

func pad(s string, n int) string {
	if k := len([]rune(s)); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// GroupMarkdown renders a group matrix as a Markdown table with the counts.
func GroupMarkdown(w io.Writer, gm *analysis.GroupMatrix) error {
	b := &strings.Builder{}
	labels := labelsWithSizes(gm)
	fmt.Fprintf(b, "| %s/%d from \\ to | %s |\n", gm.Protocol, gm.Port, strings.Join(labels, " | "))
	b.WriteString("|---" + strings.Repeat("|:---:", len(labels)) + "|\n")
	for a := range gm.Groups {
		cells := make([]string, len(gm.Groups))
		for c := range gm.Groups {
			cells[c] = GroupMark(gm.Cells[a][c])
			if gm.Cells[a][c] == analysis.CellSome {
				cells[c] += fmt.Sprintf(" %d/%d", gm.Allowed[a][c], gm.Pairs[a][c])
			}
		}
		fmt.Fprintf(b, "| %s | %s |\n", labels[a], strings.Join(cells, " | "))
	}
	fmt.Fprintf(b, "\n%s\n", GroupLegend(gm))
	_, err := io.WriteString(w, b.String())
	return err
}

// GroupCSV renders a group matrix as CSV: all, some or none per cell.
func GroupCSV(w io.Writer, gm *analysis.GroupMatrix) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(append([]string{fmt.Sprintf("%s/%d from\\to", gm.Protocol, gm.Port)}, gm.Groups...)); err != nil {
		return err
	}
	for a, g := range gm.Groups {
		if err := cw.Write(append([]string{g}, gm.Cells[a]...)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
