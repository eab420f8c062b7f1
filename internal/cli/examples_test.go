package cli

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// example is one command line from a command's help.
type example struct {
	where string // "palisade check (Example)"
	line  string
	args  []string
	code  int // the exit status its help documents (a "# ... exit status N" line before it)
}

var exitStatusRE = regexp.MustCompile(`exit status (\d+)`)

// helpExamples collects every line of every command's Example, and every
// line of its Long, that runs palisade. Continuations ("\" at the end of a
// line) are joined, "sudo " is dropped, and comments are read for the
// documented exit status.
func helpExamples(root *cobra.Command) []example {
	var out []example
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, field := range []struct{ name, text string }{{"Example", c.Example}, {"Long", c.Long}} {
			code := 0
			lines := strings.Split(field.text, "\n")
			for i := 0; i < len(lines); i++ {
				l := strings.TrimSpace(lines[i])
				for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
					i++
					l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[i])
				}
				if strings.HasPrefix(l, "#") {
					if m := exitStatusRE.FindStringSubmatch(l); m != nil {
						code, _ = strconv.Atoi(m[1])
					}
					continue
				}
				l = strings.TrimPrefix(l, "sudo ")
				if _, after, piped := strings.Cut(l, "| palisade "); piped {
					l = "palisade " + after // what palisade runs, reading stdin
				}
				if !strings.HasPrefix(l, "palisade ") {
					continue
				}
				out = append(out, example{where: c.CommandPath() + " (" + field.name + ")", line: l, args: shellWords(l)[1:], code: code})
				code = 0
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return out
}

// shellWords splits a command line as sh would for what help examples use:
// quotes, a trailing comment, a redirection (dropped), and a command
// substitution (which stands for one word, here "POD").
func shellWords(l string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
		}
		w.Reset()
		inWord = false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(l[i+1:], c)
			if j < 0 {
				j = len(l) - i - 1
			}
			w.WriteString(l[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '$' && i+1 < len(l) && l[i+1] == '(':
			depth, j := 0, i+1
			for ; j < len(l); j++ {
				if l[j] == '(' {
					depth++
				} else if l[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			w.WriteString("POD")
			inWord = true
			i = j
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return words
		case c == '>' && !inWord:
			flush()
			// Drop the redirection and its target.
			rest := strings.TrimLeft(l[i+1:], " ")
			if k := strings.IndexByte(rest, ' '); k >= 0 {
				i = len(l) - len(rest) + k
			} else {
				i = len(l)
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}

// runsOffline says whether an example is run for real: the analysis commands
// on files. The lab's verbs need root and a running lab, ui serves until
// interrupted, agent and live input need a cluster: those are parsed only.
func runsOffline(args []string) bool {
	switch args[0] {
	case "version":
		return true
	case "validate", "lint", "check", "matrix", "test", "exposure":
		// A cluster to read (--kubeconfig, --context) is not there.
		for _, a := range args {
			if a == "--lab" || a == "--kubeconfig" || a == "--context" {
				return false
			}
		}
		return true
	case "dataplane":
		for _, a := range args {
			if a == "-f" || strings.HasPrefix(a, "--filename") {
				return true
			}
		}
	}
	return false
}

// Issue 13 (13): every example in --help works. The offline ones run
// in-process from the repository root against examples/ and exit with 0 or
// the status their help documents; the others must at least parse (cobra
// finds the command, its flags and its arguments).
func TestHelpExamples(t *testing.T) {
	t.Chdir("../..")
	examples := helpExamples(newRoot(&streams{}))
	if len(examples) < 30 {
		t.Fatalf("found only %d examples", len(examples))
	}
	// `kubectl get netpol -A -o yaml | palisade validate -f -`: a dump on stdin.
	stdin, err := os.ReadFile("examples/01-restricting-network-connectivity/deny-all-ingress.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ran, parsed []string
	for _, ex := range examples {
		t.Run(ex.line, func(t *testing.T) {
			root := newRoot(&streams{in: strings.NewReader(""), out: &strings.Builder{}, err: &strings.Builder{}})
			cmd, rest, err := root.Find(ex.args)
			if err != nil || cmd == root {
				t.Fatalf("%s: %q: no such command: %v", ex.where, ex.line, err)
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Fatalf("%s: %q: %v", ex.where, ex.line, err)
			}
			if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
				t.Fatalf("%s: %q: %v", ex.where, ex.line, err)
			}
			if !runsOffline(ex.args) {
				parsed = append(parsed, ex.line)
				return
			}
			ran = append(ran, ex.line)
			in := ""
			if strings.HasSuffix(ex.line, "-f -") {
				in = string(stdin)
			}
			code, out, errs := run(t, in, ex.args...)
			if code != ex.code {
				t.Errorf("%s: %q: exit %d, want %d\nstdout:\n%.2000s\nstderr:\n%.2000s", ex.where, ex.line, code, ex.code, out, errs)
			}
		})
	}
	t.Logf("ran %d examples:\n  %s", len(ran), strings.Join(ran, "\n  "))
	t.Logf("parsed only %d (lab, ui, agent):\n  %s", len(parsed), strings.Join(parsed, "\n  "))
}

func TestShellWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`palisade exec deploy/a -- /bin/sh -c "echo hi | nc -v target 2345"`, []string{"palisade", "exec", "deploy/a", "--", "/bin/sh", "-c", "echo hi | nc -v target 2345"}},
		{`palisade matrix -f x --port 53 -o csv > dns.csv`, []string{"palisade", "matrix", "-f", "x", "--port", "53", "-o", "csv"}},
		{`palisade demo --keep        # then: palisade get pods`, []string{"palisade", "demo", "--keep"}},
		{`palisade logs $(palisade get pods -o jsonpath='{.items[0].metadata.name}') -f`, []string{"palisade", "logs", "POD", "-f"}},
		{`palisade get pods --selector=app=target -o jsonpath='{.items[0].metadata.name}'`, []string{"palisade", "get", "pods", "--selector=app=target", "-o", "jsonpath={.items[0].metadata.name}"}},
	}
	for _, tt := range tests {
		if got := shellWords(tt.in); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("shellWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
