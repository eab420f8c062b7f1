// Package images decides what runs inside a lab pod for a container spec and
// implements the built-in runtimes that stand in for well-known images.
//
// The lab has no container images: each supported image is emulated either by
// a runtime compiled into the palisade binary (nginx, hello-app, json-mock,
// mariadb/mysql, agnhost, pause, the cluster DNS) or, for busybox/alpine/curl
// style images, by running the container's command with the host's busybox
// applets and a few fuller tools (see InstallToolbox). Every runtime is a real
// process serving real traffic, so NetworkPolicy outcomes are observed on real
// packets; an image that cannot be emulated is reported, never faked.
package images

import (
	"errors"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Plan says how to start one container.
type Plan struct {
	// Builtin names a runtime compiled into the palisade binary ("" for a plain command).
	// The lab starts it as: <palisade binary> __runtime <Builtin> <Args...> inside the pod's namespaces.
	Builtin string
	Args    []string
	// Argv is the program and arguments for a plain command (busybox/alpine/curl images), resolved on the toolbox PATH.
	Argv []string
	// Env is the container's env (name=value) plus what the runtime needs.
	Env []string
	// Ports the runtime will listen on (for readiness), with protocol.
	Listens []Listen
}

// Listen is one port a runtime serves.
type Listen struct {
	Port     int32
	Protocol corev1.Protocol
}

// UnsupportedError reports an image (or an agnhost subcommand) the lab cannot
// emulate. The lab turns it into a Pending pod with an event.
type UnsupportedError struct {
	Image string
	// Reason says what exactly is missing when the image itself is known
	// (for example an agnhost subcommand); empty for an unknown image.
	Reason string
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %q cannot be run by the palisade lab", e.Image)
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	b.WriteString("; supported images: ")
	b.WriteString(strings.Join(supportedNames(), ", "))
	return b.String()
}

// ExitError is returned by Run when the emulated program exits with a status
// the caller must propagate (for example `agnhost connect` failing, or
// netexec's /exit endpoint).
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// NotFoundError reports a command the image does not contain, the way a
// container runtime fails to start such a container.
type NotFoundError struct {
	Image   string
	Command string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("image %q: exec: %q: executable file not found in $PATH", e.Image, e.Command)
}

// Supported lists the images (patterns) with one line each, for help texts and errors.
func Supported() []string {
	var out []string
	for _, s := range catalog() {
		if !s.hidden {
			out = append(out, fmt.Sprintf("%-48s %s", s.pattern, s.describe))
		}
	}
	return out
}

func supportedNames() []string {
	var out []string
	for _, s := range catalog() {
		if !s.hidden {
			out = append(out, s.short)
		}
	}
	return out
}

// Resolve decides how a container runs; an unsupported image returns
// *UnsupportedError whose message names the image and lists the supported
// ones.
func Resolve(c *corev1.Container) (Plan, error) {
	if c == nil {
		return Plan{}, errors.New("images: nil container")
	}
	spec, ref, err := lookup(c.Image)
	if err != nil {
		return Plan{}, err
	}
	env := containerEnv(spec.env, c.Env)
	command := expandAll(c.Command, env)
	args := expandAll(c.Args, env)

	var argv []string
	switch {
	case len(command) > 0:
		// Kubernetes: command replaces ENTRYPOINT and args replace CMD; the
		// image's CMD is dropped even when args are empty.
		argv = append(append(argv, command...), args...)
	case len(args) > 0:
		argv = append(append(argv, spec.entrypoint...), args...)
	default:
		argv = append(append(argv, spec.entrypoint...), spec.cmd...)
	}
	return spec.plan(ref, c.Image, argv, env)
}

// ResolveExec decides how `exec` of argv runs inside a container of c's
// image: `/agnhost connect ...` in an agnhost pod becomes the builtin,
// `/bin/sh` becomes the toolbox shell, and an image without a shell reports
// the missing command as a real runtime would.
func ResolveExec(c *corev1.Container, argv []string) (Plan, error) {
	if c == nil {
		return Plan{}, errors.New("images: nil container")
	}
	if len(argv) == 0 {
		return Plan{}, errors.New("images: exec needs a command")
	}
	spec, ref, err := lookup(c.Image)
	if err != nil {
		return Plan{}, err
	}
	env := containerEnv(spec.env, c.Env)
	if spec.own != nil {
		if rest, ok := spec.own(argv); ok && spec.builtin != "" {
			return spec.builtinPlan(ref, c.Image, rest, env)
		}
	}
	if !spec.shell {
		return Plan{}, &NotFoundError{Image: c.Image, Command: argv[0]}
	}
	return Plan{Argv: toolboxArgv(argv), Env: env}, nil
}

// KubeDNSPlan is the plan of the lab's cluster DNS pod: the kubedns server on
// port 53 (UDP and TCP) answering from recordsFile.
func KubeDNSPlan(recordsFile string) Plan {
	return Plan{
		Builtin: BuiltinKubeDNS,
		Args:    []string{"--records", recordsFile},
		Listens: []Listen{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 53, Protocol: corev1.ProtocolTCP}},
	}
}

// toolboxArgv maps an image's absolute program path to a bare name so the lab
// finds it on the toolbox PATH: Alpine's /bin/sh and /bin/ash are busybox
// applets and /usr/bin/nc is netcat-openbsd, while the host's /bin/sh is dash
// and it has no /bin/ash at all.
func toolboxArgv(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	out := append([]string(nil), argv...)
	dir, base := path.Split(out[0])
	switch strings.TrimSuffix(dir, "/") {
	case "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin":
		if base != "" {
			out[0] = base
		}
	}
	return out
}

// containerEnv merges the image's ENV defaults with the container's env the
// way the kubelet does: later definitions win, values may reference earlier
// variables as $(NAME).
func containerEnv(image []string, vars []corev1.EnvVar) []string {
	var names []string
	values := map[string]string{}
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			names = append(names, k)
		}
		values[k] = v
	}
	for _, kv := range image {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, ev := range vars {
		if ev.Name == "" || ev.ValueFrom != nil {
			// ValueFrom needs the API (pod fields, secrets); the lab fills those in.
			continue
		}
		set(ev.Name, expand(ev.Value, func(name string) (string, bool) {
			v, ok := values[name]
			return v, ok
		}))
	}
	out := make([]string, 0, len(names))
	for _, k := range names {
		out = append(out, k+"="+values[k])
	}
	return out
}

func expandAll(in []string, env []string) []string {
	if len(in) == 0 {
		return nil
	}
	lookup := func(name string) (string, bool) { return getenv(env, name) }
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, lookup)
	}
	return out
}

// expand implements Kubernetes' $(VAR) syntax: $$ escapes a dollar and a
// reference to an undefined variable stays as written.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// getenv looks a name up in a name=value slice; the last definition wins as
// in a process environment built by appending.
func getenv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
