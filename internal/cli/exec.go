package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/podexec"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// findContainer resolves "NAME", "pod/NAME" or "deploy/NAME" (first pod) in
// ns, and the container of that name in it ("": the first).
func findContainer(st *state.State, ns, ref, containerName string) (*corev1.Pod, *state.Pod, *corev1.Container, error) {
	pod, rt, err := findPod(st, ns, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	ct, err := container(pod, containerName)
	if err != nil {
		return nil, nil, nil, err
	}
	return pod, rt, ct, nil
}

func findPod(st *state.State, ns, ref string) (*corev1.Pod, *state.Pod, error) {
	kind, name, ok := strings.Cut(ref, "/")
	if !ok {
		kind, name = "pod", ref
	}
	k, err := lab.LookupKind(kind)
	if err != nil {
		return nil, nil, fail(exitNo, "error: %v", err)
	}
	var pod *corev1.Pod
	switch k.Kind {
	case "Pod":
		pod = st.Pods[state.Key(ns, name)]
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job":
		for _, key := range slices.Sorted(maps.Keys(st.Pods)) {
			p := st.Pods[key]
			if p.Namespace == ns && p.Annotations["lab.palisade.dev/controller"] == k.Kind+"/"+state.Key(ns, name) {
				pod = p
				break
			}
		}
	default:
		return nil, nil, fail(exitBadUsage, "error: cannot attach to %s", k.Resource)
	}
	if pod == nil {
		return nil, nil, fail(exitNo, "Error from server (NotFound): %s %q not found", k.Qualified(), name)
	}
	rt := st.Runtime[state.Key(pod.Namespace, pod.Name)]
	if rt == nil {
		return nil, nil, fail(exitNo, "error: pod %s has no sandbox yet (status %s)", pod.Name, pod.Status.Phase)
	}
	return pod, rt, nil
}

func container(pod *corev1.Pod, name string) (*corev1.Container, error) {
	if name == "" {
		return &pod.Spec.Containers[0], nil
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], nil
		}
	}
	return nil, fail(exitNo, "error: container %s is not valid for pod %s", name, pod.Name)
}

// runInPod runs argv (nil: the container's own command) in the pod with
// the CLI's standard streams and returns its exit code.
func runInPod(s *streams, pod *corev1.Pod, rt *state.Pod, ct *corev1.Container, argv []string, stdin bool) (int, error) {
	spec, err := lab.ContainerSpec(lab.Paths{Dir: lab.Dir()}, pod, rt, ct, argv)
	if err != nil {
		return 0, fail(exitNo, "error: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd, err := podexec.Command(self, spec)
	if err != nil {
		return 0, err
	}
	if stdin {
		cmd.Stdin = s.in
	}
	cmd.Stdout, cmd.Stderr = s.out, s.err
	// The terminal's signals reach the process through its process group;
	// the CLI only waits.
	signal.Ignore(os.Interrupt, syscall.SIGQUIT)
	defer signal.Reset(os.Interrupt, syscall.SIGQUIT)
	if err := podexec.Start(cmd, lab.PodSandbox(rt)); err != nil {
		return 0, fail(exitNo, "error: %v", err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

func newExec(s *streams) *cobra.Command {
	var (
		ns, containerName string
		stdin, tty        bool
	)
	cmd := &cobra.Command{
		Use:   "exec [-i] [-t] POD [-c CONTAINER] -- COMMAND [ARG...]",
		Short: "Run a command inside a lab pod",
		Long: `Run a command inside a lab pod: in its network namespace, with its hostname,
resolv.conf and hosts file. Standard input (-i), the terminal (-t) and the
exit code pass through, as with kubectl exec. POD may be deploy/NAME.`,
		Example: `  palisade exec $(palisade get pods -l app=allowed -o jsonpath='{.items[0].metadata.name}') -- /bin/sh -c "echo hi | nc -v target 2345"
  palisade exec -ti deploy/allowed -- /bin/sh`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 {
				dash = 1
			}
			if dash != 1 || len(args) < 2 {
				return fail(exitBadUsage, "error: you must specify one pod and, after --, the command to run\nSee '%s --help' for usage.", cmd.CommandPath())
			}
			st, err := lab.NewClient(lab.Dir()).State()
			if err != nil {
				return labError(err)
			}
			if os.Geteuid() != 0 {
				return labError(lab.ErrNotRoot)
			}
			pod, rt, ct, err := findContainer(st, ns, args[0], containerName)
			if err != nil {
				return err
			}
			_ = tty // the terminal is passed through as is
			code, err := runInPod(s, pod, rt, ct, args[1:], stdin)
			if err != nil {
				return err
			}
			if code != 0 {
				return fail(code, "command terminated with exit code %d", code)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().StringVarP(&containerName, "container", "c", "", "container name (default: the first)")
	cmd.Flags().BoolVarP(&stdin, "stdin", "i", false, "pass standard input to the command")
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "the command's terminal is this one")
	return cmd
}

func newLogs(s *streams) *cobra.Command {
	var (
		ns, containerName string
		follow            bool
		tail              int
	)
	cmd := &cobra.Command{
		Use:     "logs [-f] [--tail N] POD [-c CONTAINER]",
		Short:   "Print (and follow) a lab container's output",
		Example: "  palisade logs $(palisade get pods --selector=app=target -o jsonpath='{.items[0].metadata.name}') -f",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := lab.NewClient(lab.Dir())
			st, err := c.State()
			if err != nil {
				return labError(err)
			}
			pod, rt, ct, err := findContainer(st, ns, args[0], containerName)
			if err != nil {
				return err
			}
			var path string
			for _, cr := range rt.Containers {
				if cr.Name == ct.Name {
					path = cr.LogPath
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return streamLog(ctx, s.out, path, tail, follow, func() bool {
				st, err := c.State()
				return err == nil && st.Runtime[state.Key(pod.Namespace, pod.Name)] != nil
			})
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().StringVarP(&containerName, "container", "c", "", "container name (default: the first)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output")
	cmd.Flags().IntVar(&tail, "tail", -1, "print only the last N lines")
	return cmd
}

// streamLog prints a log file (its last tail lines) and, when following,
// whatever is appended until the pod is gone or ctx ends.
func streamLog(ctx context.Context, w io.Writer, path string, tail int, follow bool, podAlive func() bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if !follow {
			return nil
		}
		for err != nil && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			f, err = os.Open(path)
		}
		if err != nil {
			return nil
		}
	} else if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	if tail >= 0 {
		lines := strings.SplitAfter(string(b), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		b = []byte(strings.Join(lines, ""))
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	buf := make([]byte, 32<<10)
	checked := time.Now()
	for ctx.Err() == nil {
		n, err := f.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if fl, ok := w.(interface{ Sync() error }); ok {
				_ = fl.Sync()
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if time.Since(checked) > time.Second {
			if !podAlive() {
				return nil
			}
			checked = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func newRun(s *streams) *cobra.Command {
	var (
		ns, image, labelStr, restart string
		port                         int32
		expose, rm, stdin, tty       bool
		env                          []string
		command                      bool
	)
	cmd := &cobra.Command{
		Use:   "run NAME --image IMAGE [--labels k=v] [--port P] [--expose] [--restart Never] [--rm -i -t] [-- COMMAND...]",
		Short: "Run a pod in the lab (and optionally a service for it)",
		Example: `  palisade run hello-web --labels app=hello --image=gcr.io/google-samples/hello-app:1.0 --port 8080 --expose
  palisade run --rm -i -t --image=alpine -l app=foo --restart=Never test-$RANDOM -- sh`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			rest := args[1:]
			if image == "" {
				return fail(exitBadUsage, "error: --image is required")
			}
			lbls, err := parseLabels(labelStr)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			if len(lbls) == 0 {
				lbls = map[string]string{"run": name}
			}
			if expose && port == 0 {
				return fail(exitBadUsage, "error: --port must be set when exposing a service")
			}
			// As kubectl run: -i attaches (with or without -t), -t needs -i.
			if tty && !stdin {
				return fail(exitBadUsage, "error: -i/--stdin is required for containers with -t/--tty=true")
			}
			if rm && !stdin {
				return fail(exitBadUsage, "error: --rm should only be used for attached containers")
			}
			ct := corev1.Container{Name: name, Image: image, Stdin: stdin, TTY: tty, StdinOnce: stdin}
			if command {
				ct.Command = rest
			} else {
				ct.Args = rest
			}
			for _, e := range env {
				k, v, _ := strings.Cut(e, "=")
				ct.Env = append(ct.Env, corev1.EnvVar{Name: k, Value: v})
			}
			if port != 0 {
				ct.Ports = []corev1.ContainerPort{{ContainerPort: port, Protocol: corev1.ProtocolTCP}}
			}
			pod := &corev1.Pod{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{ct}, RestartPolicy: corev1.RestartPolicy(restart)},
			}
			attach := stdin
			if attach {
				pod.Annotations = map[string]string{lab.AnnotationAttach: "true"}
			}
			c, err := labClient()
			if err != nil {
				return err
			}
			objs := []runtime.Object{pod}
			if expose {
				objs = append([]runtime.Object{newService(ns, name, lbls, port, "", corev1.ProtocolTCP)}, objs...)
			}
			// Attached, kubectl shows the session rather than "pod/x created".
			applyOut := s
			if attach {
				applyOut = &streams{in: s.in, out: io.Discard, err: s.err}
			}
			if err := applyObjects(applyOut, c, objs, true); err != nil {
				return err
			}
			if !attach {
				return nil
			}
			st, err := c.State()
			if err != nil {
				return labError(err)
			}
			p, rt, running, err := findContainer(st, ns, name, "")
			if err != nil {
				return err
			}
			if tty {
				fmt.Fprintln(s.err, "If you don't see a command prompt, try pressing enter.")
			}
			code, runErr := runInPod(s, p, rt, running, nil, true)
			_, _ = c.Call("/attached-exit", map[string]any{"pod": state.Key(ns, name), "code": code})
			if rm {
				r, err := c.Call("/delete", []lab.DeleteRequest{{Kind: "Pod", Namespace: ns, Names: []string{name}}})
				if err == nil {
					_ = printResponse(s, r)
				}
			}
			if runErr != nil {
				return runErr
			}
			if code != 0 {
				return fail(code, "pod %s/%s terminated (Error)", ns, name)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&ns, "namespace", "n", "default", "namespace")
	f.StringVar(&image, "image", "", "image to run: busybox, alpine, curlimages/curl, nginx, hello-app, json-mock, mariadb/mysql, agnhost, pause (an image the lab cannot emulate stays Pending and says why)")
	f.StringVarP(&labelStr, "labels", "l", "", "labels, k=v[,k=v] (default run=NAME)")
	f.StringVar(&restart, "restart", "Always", "Always, OnFailure or Never")
	f.Int32Var(&port, "port", 0, "the port the container serves")
	f.BoolVar(&expose, "expose", false, "also create a ClusterIP service NAME on --port")
	f.BoolVar(&rm, "rm", false, "delete the pod when the attached command exits")
	f.BoolVarP(&stdin, "stdin", "i", false, "keep standard input open")
	f.BoolVarP(&tty, "tty", "t", false, "attach the terminal")
	f.StringArrayVar(&env, "env", nil, "environment variable K=V; repeatable")
	f.BoolVar(&command, "command", false, "the words after -- are the command, not args")
	return cmd
}
