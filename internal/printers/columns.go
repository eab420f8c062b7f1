package printers

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"
)

// Column is one column of `-o custom-columns`: a header and the JSONPath
// of its value.
type Column struct {
	Header, FieldSpec string
}

// relaxedPath is kubectl's RelaxedJSONPathExpression: "metadata.name",
// ".metadata.name", "{metadata.name}" and "{.metadata.name}" all mean
// {.metadata.name}.
var relaxedPath = regexp.MustCompile(`^\{\.?([^{}]+)\}$|^\.?([^{}]+)$`)

func relaxed(expr string) (string, error) {
	if expr == "" {
		return expr, nil
	}
	m := relaxedPath.FindStringSubmatch(expr)
	if m == nil {
		return "", fmt.Errorf("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'")
	}
	if m[1] != "" {
		return "{." + m[1] + "}", nil
	}
	return "{." + m[2] + "}", nil
}

// ParseCustomColumns reads kubectl's -o custom-columns=HEADER:PATH,... spec,
// with its error messages.
func ParseCustomColumns(spec string) ([]Column, error) {
	if spec == "" {
		return nil, fmt.Errorf("custom-columns format specified but no custom columns given")
	}
	var cols []Column
	for _, part := range strings.Split(spec, ",") {
		h, p, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("unexpected custom-columns spec: %s, expected <header>:<json-path-expr>", part)
		}
		fs, err := relaxed(p)
		if err != nil {
			return nil, err
		}
		cols = append(cols, Column{Header: h, FieldSpec: fs})
	}
	return cols, nil
}

// kubectl's words, full stop included.
var (
	errTemplateHeader = templateError("invalid template, missing header line. Expected format is one line of space separated headers, one line of space separated column specs.")
	errTemplateSpec   = templateError("invalid template, missing spec line. Expected format is one line of space separated headers, one line of space separated column specs.")
)

type templateError string

func (e templateError) Error() string { return string(e) }

// ParseCustomColumnsFile reads kubectl's -o custom-columns-file template:
// a line of headers and a line of paths, both whitespace separated.
func ParseCustomColumnsFile(r io.Reader) ([]Column, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return nil, errTemplateHeader
	}
	headers := strings.Fields(sc.Text())
	if !sc.Scan() {
		return nil, errTemplateSpec
	}
	specs := strings.Fields(sc.Text())
	if len(headers) != len(specs) {
		return nil, fmt.Errorf("number of headers (%d) and field specifications (%d) don't match", len(headers), len(specs))
	}
	cols := make([]Column, len(headers))
	for i := range headers {
		fs, err := relaxed(specs[i])
		if err != nil {
			return nil, err
		}
		cols[i] = Column{Header: headers[i], FieldSpec: fs}
	}
	return cols, nil
}

// PrintCustomColumns prints objects as kubectl's CustomColumnsPrinter does:
// the objects as the API server serves them (JSON field names), a missing
// value as <none>, several values joined by commas, aligned by kubectl's
// tab writer.
func PrintCustomColumns(w io.Writer, cols []Column, objs []runtime.Object, noHeaders bool) error {
	parsers := make([]*jsonpath.JSONPath, len(cols))
	for i, c := range cols {
		parsers[i] = jsonpath.New(fmt.Sprintf("column%d", i)).AllowMissingKeys(true)
		if err := parsers[i].Parse(c.FieldSpec); err != nil {
			return err
		}
	}
	tw := printers.GetNewTabWriter(w)
	if !noHeaders {
		headers := make([]string, len(cols))
		for i, c := range cols {
			headers[i] = c.Header
		}
		fmt.Fprintln(tw, strings.Join(headers, "\t"))
	}
	for _, o := range objs {
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return err
		}
		row := make([]string, len(parsers))
		for i, p := range parsers {
			values, err := p.FindResults(content)
			if err != nil {
				return err
			}
			var vs []string
			if len(values) == 0 || len(values[0]) == 0 {
				vs = append(vs, "<none>")
			}
			for _, arr := range values {
				for _, v := range arr {
					vs = append(vs, printers.EscapeTerminal(fmt.Sprint(v.Interface())))
				}
			}
			row[i] = strings.Join(vs, ",")
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
