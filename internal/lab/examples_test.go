package lab_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/syncbuf"
)

// TestLabHelpExamples runs the example lines of every lab command's --help in
// a lab holding tutorial 01, as a user would paste them. Interactive lines
// (-i/-t) and those of the lab's own life (sudo: up, down, status, demo),
// which this test is itself inside, are not run; a following line (-f)
// must start and keep running until it is stopped.
func TestLabHelpExamples(t *testing.T) {
	l := newLab(t)
	l.ok("palisade apply -f examples/01-restricting-network-connectivity/")
	l.ok("palisade wait --for=condition=Ready pods --all --timeout=60s")
	var lines []string
	for _, cmd := range []string{"apply", "create", "get", "describe", "exec", "logs", "run", "expose", "label", "wait", "probe", "denials", "delete"} {
		help := l.must(cmd, "--help")
		in := false
		for _, line := range strings.Split(help, "\n") {
			switch {
			case strings.HasPrefix(line, "Examples:"):
				in = true
				continue
			case in && (line == "" || !strings.HasPrefix(line, "  ")):
				in = false
			}
			if in {
				if ex := strings.TrimSpace(line); strings.HasPrefix(ex, "palisade ") {
					lines = append(lines, ex)
				}
			}
		}
	}
	if len(lines) < 20 {
		t.Fatalf("only %d examples found: %q", len(lines), lines)
	}
	ran := 0
	for _, ex := range lines {
		words := strings.Fields(ex)
		interactive := false
		for _, w := range words {
			if w == "-i" || w == "-t" || w == "-it" || w == "-ti" {
				interactive = true
			}
		}
		if words[1] == "delete" {
			// Each delete example finds the tutorial's objects in place.
			l.ok("palisade apply -f examples/01-restricting-network-connectivity/")
		}
		switch {
		case interactive:
			continue
		case words[1] == "create" && len(words) > 2 && words[2] == "-f":
			// The objects exist: create says so, as kubectl does.
			if _, errs, code := l.shell("", ex); code == 0 || !strings.Contains(errs, "AlreadyExists") {
				t.Errorf("$ %s: exit %d %s", ex, code, errs)
			}
		case strings.HasSuffix(ex, " -f") || strings.Contains(ex, " -f ") || strings.HasSuffix(ex, " -w") || strings.Contains(ex, " -w "):
			// -f follows (logs, denials) and -w watches (get): both run
			// until stopped.
			if words[1] == "apply" || words[1] == "delete" {
				l.ok(ex)
				break
			}
			// Started in a process group of its own, stopped after 2 s.
			cmd := l.shellCmd(ex)
			var out syncbuf.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				t.Errorf("$ %s: ended by itself (%v) instead of following:\n%s", ex, err, out.String())
			case <-time.After(2 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		default:
			l.ok(ex)
		}
		ran++
	}
	t.Logf("ran %d of %d examples", ran, len(lines))
}
