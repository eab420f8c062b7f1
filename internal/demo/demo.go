// Package demo walks a new user through tutorial 01 in the lab: the
// commands the tutorial types, run for real, each outcome checked against
// what the tutorial says, and the measured connectivity matrix beside the
// engine's prediction. It drives the palisade binary as a user would, so
// the demo exercises the same paths the user's next commands will.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/palisade-net/palisade/examples"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/syncbuf"
)

// Options configure a demo run.
type Options struct {
	Out    io.Writer
	Self   string // the palisade binary
	LabDir string
	// LabName names the lab's network namespaces (lab up --name).
	LabName string
	// Keep leaves the lab running at the end.
	Keep bool
	// Install lets the demo install missing Debian packages with apt-get.
	Install bool
	// TTY animates progress; otherwise each step prints once it is done.
	TTY bool
}

// Tool is a program the lab needs and the Debian package that has it.
type Tool struct{ Program, Package string }

// Tools are the host programs the lab runs pods with.
var Tools = []Tool{
	{"nft", "nftables"},
	{"busybox", "busybox"},
	{"nc.openbsd", "netcat-openbsd"},
	{"curl", "curl"},
}

// Missing lists the tools not installed, looking where Debian puts them
// (root's PATH may be short under sudo).
func Missing(look func(string) bool) []Tool {
	var out []Tool
	for _, t := range Tools {
		if !look(t.Program) {
			out = append(out, t)
		}
	}
	return out
}

// Installed reports whether a program is on PATH or in a system directory.
func Installed(name string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// ErrLabRunning stops the demo from changing a lab the user built.
var ErrLabRunning = errors.New("a lab is already running here; the demo brings up its own and tears it down: run 'palisade lab down' first (or set PALISADE_LAB_DIR to another directory)")

// Run runs the demo. It returns an error when a step does not show what the
// tutorial documents; the lab is torn down (unless Keep) either way.
func Run(ctx context.Context, o Options) (err error) {
	d := &demo{o: o, env: append(os.Environ(), "PALISADE_LAB_DIR="+o.LabDir)}
	d.say("Palisade demo: tutorial 01, \"Restricting network connectivity\", with real packets.\n\n")
	if os.Geteuid() != 0 {
		return lab.ErrNotRoot
	}
	if err := d.prerequisites(ctx); err != nil {
		return err
	}
	if lab.NewClient(o.LabDir).Alive() {
		return ErrLabRunning
	}
	manifests, err := os.MkdirTemp("", "palisade-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(manifests)
	dir := filepath.Join(manifests, examples.Tutorial01Dir)
	if err := writeExample(dir); err != nil {
		return err
	}

	started := false
	defer func() {
		if !started {
			return
		}
		if o.Keep {
			d.say("\nThe lab is still up (--keep). Carry on with the tutorial, e.g.\n" +
				"  palisade get pods\n  palisade describe pod -l app=target\n  palisade lab down\n")
			return
		}
		// Tear down even when ctx was cancelled (Ctrl-C).
		out, derr := d.palisade(context.Background(), "", "lab", "down")
		if derr != nil {
			d.say("\nlab down failed: %v\n%s", derr, out)
			err = errors.Join(err, derr)
			return
		}
		d.say("\nLab torn down: every namespace, link, table and process it made is gone (--keep leaves it up).\n")
	}()

	steps := 6
	step := func(i int, what string) func(result string) {
		return d.progress(fmt.Sprintf("[%d/%d] %s", i, steps, what))
	}

	done := step(1, "palisade lab up")
	if out, err := d.palisade(ctx, "", "lab", "up", "--name", o.LabName); err != nil {
		done("failed")
		return fmt.Errorf("lab up: %v\n%s", err, out)
	}
	started = true
	done("done")

	done = step(2, "palisade apply -f examples/"+examples.Tutorial01Dir+"/")
	out, err := d.palisade(ctx, "", "apply", "-f", dir)
	if err != nil {
		done("failed")
		return fmt.Errorf("apply: %v\n%s", err, out)
	}
	done(fmt.Sprintf("%d objects created", strings.Count(out, " created")))
	d.indent(out)

	done = step(3, "palisade wait --for=condition=Ready pods --all")
	if out, err := d.palisade(ctx, "", "wait", "--for=condition=Ready", "pods", "--all", "--timeout=60s"); err != nil {
		done("failed")
		return fmt.Errorf("pods did not become Ready: %v\n%s", err, out)
	}
	done("3 pods Ready")

	target, err := d.podOf(ctx, "target")
	if err != nil {
		return err
	}
	logs, stopLogs, err := d.follow(ctx, "logs", target, "-f")
	if err != nil {
		return err
	}
	defer stopLogs()

	const line = `echo 'hello there target!' | nc -v target 2345`
	allowed, err := d.podOf(ctx, "allowed")
	if err != nil {
		return err
	}
	done = step(4, "allowed -> target:2345   "+line)
	res, code := d.exec(ctx, allowed, line)
	logged := logs.waitFor("hello there target!", 5*time.Second)
	if code != 0 || !logged {
		done("not as the tutorial says")
		return fmt.Errorf("allowed could not reach target (exit %d): %s", code, res)
	}
	done("connected; target logged \"hello there target!\"")
	d.indent(strings.TrimSpace(res))

	denied, err := d.podOf(ctx, "denied")
	if err != nil {
		return err
	}
	done = step(5, "denied -> target:2345    "+line)
	res, code = d.exec(ctx, denied, line)
	if ctx.Err() != nil {
		done("interrupted")
		return ctx.Err()
	}
	again := strings.Count(logs.String(), "hello there target!")
	if code == 0 || !strings.Contains(res, "timed out") || again != 1 {
		done("not as the tutorial says")
		return fmt.Errorf("denied was not refused (exit %d, target logged %d lines): %s", code, again, res)
	}
	done("dropped by policy: the connection timed out; target logged nothing new")
	d.indent(strings.TrimSpace(res))

	done = step(6, "palisade probe --port 2345   every pod to every pod, real connections")
	out, perr := d.palisade(ctx, "", "probe", "--port", "2345", "-o", "json")
	var pr lab.ProbeResult
	if err := json.Unmarshal([]byte(out), &pr); err != nil {
		done("failed")
		return fmt.Errorf("probe: %v %v\n%s", perr, err, out)
	}
	if len(pr.Mismatches) > 0 {
		done(fmt.Sprintf("%d connections disagree with the engine", len(pr.Mismatches)))
	} else {
		done(fmt.Sprintf("all %d connections measured as predicted", len(pr.Pods)*len(pr.Pods)))
	}
	d.say("\n")
	if err := SideBySide(d.o.Out, &pr); err != nil {
		return err
	}
	if len(pr.Mismatches) > 0 {
		return fmt.Errorf("%d connections disagree with the engine", len(pr.Mismatches))
	}
	d.say("\nEvery step showed what the tutorial documents. Read examples/%s/README.md\nfor the commands, and the other tutorials in examples/.\n", examples.Tutorial01Dir)
	return nil
}

type demo struct {
	o   Options
	env []string
	mu  sync.Mutex
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.o.Out, format, args...)
}

func (d *demo) indent(text string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		d.say("        %s\n", l)
	}
}

// progress prints a step; on a terminal a spinner with the elapsed time
// runs until the returned function prints the result.
func (d *demo) progress(what string) func(result string) {
	start := time.Now()
	if !d.o.TTY {
		return func(result string) { d.say("%s\n      %s (%s)\n", what, result, roundDur(time.Since(start))) }
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			d.say("\r\033[K%s %c %s", what, frames[i%len(frames)], roundDur(time.Since(start)))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func(result string) {
		close(stop)
		<-finished
		d.say("\r\033[K%s\n      %s (%s)\n", what, result, roundDur(time.Since(start)))
	}
}

func roundDur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// palisade runs the binary with args and returns stdout+stderr.
func (d *demo) palisade(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.o.Self, args...)
	cmd.Env = d.env
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	return out.String(), err
}

// exec runs the tutorial's shell line in a pod; it returns the output and
// exit code.
func (d *demo) exec(ctx context.Context, pod, line string) (string, int) {
	out, err := d.palisade(ctx, "", "exec", pod, "--", "/bin/sh", "-c", line)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out, ee.ExitCode()
	}
	if err != nil {
		return out + err.Error(), -1
	}
	return out, 0
}

func (d *demo) podOf(ctx context.Context, app string) (string, error) {
	out, err := d.palisade(ctx, "", "get", "pods", "--selector=app="+app, "-o", "jsonpath={.items[0].metadata.name}")
	if err != nil || strings.TrimSpace(out) == "" {
		return "", fmt.Errorf("finding the %s pod: %v %s", app, err, out)
	}
	return strings.TrimSpace(out), nil
}

// follow starts a long-running command (logs -f) and collects its output.
func (d *demo) follow(ctx context.Context, args ...string) (*collector, func(), error) {
	c := &collector{}
	cmd := exec.CommandContext(ctx, d.o.Self, args...)
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = c, c
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return c, func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}, nil
}

// collector gathers a background command's output while the demo waits
// for a line of it.
type collector struct{ syncbuf.Buffer }

func (c *collector) waitFor(s string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !strings.Contains(c.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// prerequisites installs what the lab runs pods with, when it is missing
// and allowed to.
func (d *demo) prerequisites(ctx context.Context) error {
	missing := Missing(Installed)
	if len(missing) == 0 {
		return nil
	}
	var pkgs []string
	for _, t := range missing {
		pkgs = append(pkgs, t.Package)
	}
	if !d.o.Install {
		return fmt.Errorf("the lab needs %s: apt-get install -y %s (or run the demo without --no-install)", strings.Join(pkgs, ", "), strings.Join(pkgs, " "))
	}
	if !Installed("apt-get") {
		return fmt.Errorf("the lab needs %s, and this machine has no apt-get to install them with; install them and run the demo again", strings.Join(pkgs, ", "))
	}
	done := d.progress("[0/6] installing " + strings.Join(pkgs, " ") + " (apt-get)")
	var log bytes.Buffer
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = &log, &log
		return cmd.Run()
	}
	// A fresh machine has no package lists yet; update only then.
	if err := run(append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)...); err != nil {
		if err := run("update"); err != nil {
			done("failed")
			return fmt.Errorf("apt-get update: %v\n%s", err, log.String())
		}
		if err := run(append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)...); err != nil {
			done("failed")
			return fmt.Errorf("apt-get install %s: %v\n%s", strings.Join(pkgs, " "), err, log.String())
		}
	}
	if still := Missing(Installed); len(still) > 0 {
		done("failed")
		return fmt.Errorf("after apt-get, still missing: %v", still)
	}
	done("installed")
	return nil
}

func writeExample(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(examples.Tutorial01, examples.Tutorial01Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := examples.Tutorial01.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
	})
}
