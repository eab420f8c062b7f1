package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// dryRunFlag registers kubectl's --dry-run=none|client|server.
func dryRunFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "dry-run", "none", `"none", "server", or "client": with client or server, validate and print what would change, and change nothing`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "unchanged"
}

// dryRunMode is kubectl's GetDryRunStrategy; a bare --dry-run is client,
// with kubectl's deprecation warning on stderr.
func dryRunMode(s *streams, v string) (string, error) {
	switch v {
	case "", "none", "false":
		return "", nil
	case "client", "true":
		return lab.DryRunClient, nil
	case "server":
		return lab.DryRunServer, nil
	case "unchanged":
		fmt.Fprintln(s.err, "W"+time.Now().Format("0102 15:04:05.000000")+" helpers.go:714] --dry-run is deprecated and can be replaced with --dry-run=client.")
		return lab.DryRunClient, nil
	}
	return "", fail(exitNo, `error: Invalid dry-run value (%s). Must be "none", "server", or "client".`, v)
}

// callLab sends one request to the lab's daemon and prints its answer.
func callLab(s *streams, path string, req any) error {
	c, err := labClient()
	if err != nil {
		return err
	}
	r, err := c.Call(path, req)
	if err != nil {
		return labError(err)
	}
	return printResponse(s, r)
}

// oneTarget reads "KIND NAME" or "KIND/NAME" (one object), resolving the
// kind as the lab names it.
func oneTarget(args []string) (lab.Kind, string, error) {
	kind, names, err := parseTargets(args)
	if err != nil {
		return lab.Kind{}, "", fail(exitBadUsage, "error: %v", err)
	}
	k, err := lab.LookupKind(kind)
	if err != nil {
		return lab.Kind{}, "", fail(exitNo, "error: %v", err)
	}
	if len(names) != 1 {
		return lab.Kind{}, "", fail(exitBadUsage, "error: exactly one NAME is required, got %d", len(names))
	}
	return k, names[0], nil
}

func newPatch(s *streams) *cobra.Command {
	var ns, patch, patchFile, typ, dryRun string
	cmd := &cobra.Command{
		Use:   "patch (KIND NAME | KIND/NAME) (-p PATCH | --patch-file FILE) [--type strategic|merge|json]",
		Short: "Update fields of an object in place with a patch",
		Long: `Patch an object in place, as kubectl patch does. The patch is JSON or YAML.

--type strategic (the default) merges lists by their merge keys (containers
by name, ports by port), as the API server does for built-in kinds; merge is
an RFC 7386 merge patch (lists are replaced); json is an RFC 6902 list of
operations. The patched object is validated like any update: one that is
refused changes nothing. ClusterNetworkPolicies (a custom resource) take
merge or json patches only.`,
		Example: `  palisade patch deployment web -p '{"spec":{"replicas":3}}'
  palisade patch pod client --type merge -p '{"metadata":{"labels":{"role":"frontend"}}}'
  palisade patch netpol deny-all --type json -p '[{"op":"replace","path":"/spec/podSelector","value":{"matchLabels":{"app":"web"}}}]'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, name, err := oneTarget(args)
			if err != nil {
				return err
			}
			mode, err := dryRunMode(s, dryRun)
			if err != nil {
				return err
			}
			if typ != lab.PatchStrategic && typ != lab.PatchMerge && typ != lab.PatchJSON {
				return fail(exitNo, "error: --type must be one of [json merge strategic], not %q", typ)
			}
			if patch == "" && patchFile == "" {
				return fail(exitNo, "error: must specify --patch or --patch-file containing the contents of the patch")
			}
			if patch != "" && patchFile != "" {
				return fail(exitNo, "error: cannot specify --patch and --patch-file together")
			}
			body := []byte(patch)
			if patchFile != "" {
				if body, err = os.ReadFile(patchFile); err != nil {
					return fail(exitNo, "error: unable to read patch file: %v", err)
				}
			}
			j, err := yaml.ToJSON(body)
			if err != nil {
				return fail(exitNo, "error: unable to parse %q: %v", string(body), err)
			}
			return callLab(s, "/patch", lab.PatchRequest{Kind: k.Kind, Namespace: ns, Names: []string{name}, Type: typ, Patch: j, DryRun: mode})
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().StringVarP(&patch, "patch", "p", "", "the patch, JSON or YAML")
	cmd.Flags().StringVar(&patchFile, "patch-file", "", "a file holding the patch")
	cmd.Flags().StringVar(&typ, "type", lab.PatchStrategic, "strategic, merge or json")
	dryRunFlag(cmd, &dryRun)
	return cmd
}

func newScale(s *streams) *cobra.Command {
	var (
		ns, dryRun, selector string
		replicas, current    int
		all                  bool
	)
	cmd := &cobra.Command{
		Use:   "scale --replicas=COUNT (KIND NAME | KIND/NAME | KIND -l SELECTOR | KIND --all)",
		Short: "Set the replica count of a Deployment, ReplicaSet or StatefulSet",
		Long: `Set the number of replicas, as kubectl scale does: the lab's controllers
then create or stop pods until the workload has that many. With
--current-replicas, only if the workload has that many now.`,
		Example: `  palisade scale --replicas=3 deployment/web
  palisade scale statefulset db --replicas=0
  palisade scale --current-replicas=2 --replicas=4 deployment web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("replicas") {
				return fail(exitNo, `error: required flag(s) "replicas" not set`)
			}
			if replicas < 0 {
				return fail(exitNo, "error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			kind, names, err := parseTargets(args)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			k, err := lab.LookupKind(kind)
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			if len(names) == 0 && !all && selector == "" {
				return fail(exitNo, "error: resource(s) were provided, but no name was specified")
			}
			switch k.Kind {
			case "Deployment", "ReplicaSet", "StatefulSet":
			default:
				// kubectl reads the object, then finds no scale subresource.
				if st, err := lab.NewClient(lab.Dir()).State(); err == nil && len(names) > 0 {
					if objs, _ := lab.Objects(st, lab.Query{Kind: k, Namespace: ns, Names: names[:1]}); len(objs) == 0 {
						return fail(exitNo, "%s", k.NotFound(names[0]))
					}
				}
				return fail(exitNo, "Error from server (NotFound): the server could not find the requested resource")
			}
			mode, err := dryRunMode(s, dryRun)
			if err != nil {
				return err
			}
			req := lab.PatchRequest{Kind: k.Kind, Namespace: ns, Names: names, Selector: selector, All: all, Type: lab.PatchMerge, DryRun: mode, Verb: "scaled"}
			if current >= 0 {
				// kubectl's precondition: the JSON patch's test makes it
				// atomic with the change.
				req.Type = lab.PatchJSON
				req.Patch = []byte(fmt.Sprintf(`[{"op":"test","path":"/spec/replicas","value":%d},{"op":"replace","path":"/spec/replicas","value":%d}]`, current, replicas))
				st, err := lab.NewClient(lab.Dir()).State()
				if err != nil {
					return labError(err)
				}
				for _, n := range names {
					objs, _ := lab.Objects(st, lab.Query{Kind: k, Namespace: ns, Names: []string{n}})
					if len(objs) == 1 {
						if got := replicasOf(objs[0]); got != current {
							return fail(exitNo, "error: Expected replicas to be %d, was %d", current, got)
						}
					}
				}
			} else {
				req.Patch = []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
			}
			return callLab(s, "/patch", req)
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().IntVar(&replicas, "replicas", 0, "the new number of replicas (required)")
	cmd.Flags().IntVar(&current, "current-replicas", -1, "only if the workload has this many replicas now (-1: any)")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector")
	cmd.Flags().BoolVar(&all, "all", false, "every object of the kind in the namespace")
	dryRunFlag(cmd, &dryRun)
	return cmd
}

// replicasOf reads spec.replicas of a workload (1 when unset).
func replicasOf(o any) int {
	b, _ := json.Marshal(o)
	var v struct {
		Spec struct {
			Replicas *int `json:"replicas"`
		} `json:"spec"`
	}
	_ = json.Unmarshal(b, &v)
	if v.Spec.Replicas == nil {
		return 1
	}
	return *v.Spec.Replicas
}

func newAnnotate(s *streams) *cobra.Command {
	var (
		ns, selector, dryRun string
		overwrite, all       bool
	)
	cmd := &cobra.Command{
		Use:   "annotate (KIND NAME... | KIND/NAME | KIND -l SELECTOR | KIND --all) KEY=VALUE... KEY-...",
		Short: "Set or remove annotations on objects",
		Long: `Set or remove annotations, as kubectl annotate does: KEY=VALUE sets one,
KEY- removes one. A key that has another value already is refused unless
--overwrite is given.`,
		Example: `  palisade annotate pod client description='the test client'
  palisade annotate deployment web owner=ops --overwrite
  palisade annotate pods --all reviewed=yes
  palisade annotate pod client description-`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fail(exitNo, "error: at least one annotation update is required")
			}
			var kind string
			var names, rest []string
			if k, n, ok := strings.Cut(args[0], "/"); ok {
				kind, names, rest = k, []string{n}, args[1:]
			} else {
				kind, rest = args[0], args[1:]
				for len(rest) > 0 && !strings.Contains(rest[0], "=") && !strings.HasSuffix(rest[0], "-") {
					names = append(names, rest[0])
					rest = rest[1:]
				}
			}
			k, err := lab.LookupKind(kind)
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			set := map[string]any{}
			keep := map[string]string{}
			for _, a := range rest {
				if key, v, ok := strings.Cut(a, "="); ok {
					set[key], keep[key] = v, v
				} else if key, ok := strings.CutSuffix(a, "-"); ok {
					set[key] = nil
				} else {
					return fail(exitNo, "error: invalid annotation format: %s", a)
				}
			}
			if len(set) == 0 {
				return fail(exitNo, "error: at least one annotation update is required")
			}
			if len(names) == 0 && !all && selector == "" {
				return fail(exitNo, "error: resource(s) were provided, but no name was specified")
			}
			mode, err := dryRunMode(s, dryRun)
			if err != nil {
				return err
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": set}})
			req := lab.PatchRequest{Kind: k.Kind, Namespace: ns, Names: names, Selector: selector, All: all, Type: lab.PatchMerge, Patch: patch, DryRun: mode, Verb: "annotated"}
			if !overwrite {
				req.NoOverwrite = keep
			}
			return callLab(s, "/patch", req)
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "allow changing an annotation that has a value")
	cmd.Flags().BoolVar(&all, "all", false, "every object of the kind in the namespace")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector")
	dryRunFlag(cmd, &dryRun)
	return cmd
}

// restartedAtAnnotation is what kubectl rollout restart sets on the pod
// template: the changed template is a new revision, so pods are replaced.
const restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

func newRollout(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout (restart|status) KIND/NAME",
		Short: "Restart a Deployment's pods, or wait for a rollout to finish",
		Example: `  palisade rollout restart deployment/web
  palisade rollout status deployment/web --timeout=60s`,
	}
	var ns, dryRun string
	restart := &cobra.Command{
		Use:   "restart (KIND/NAME | KIND NAME...)",
		Short: "Replace a Deployment's pods with new ones",
		Long: `Restart sets the kubectl.kubernetes.io/restartedAt annotation on the pod
template, as kubectl rollout restart does: the template changes, so the
lab's Deployment controller replaces every pod with one of the new
template (new names, new addresses).

The lab restarts Deployments only: its StatefulSet and DaemonSet pods keep
their names and are not replaced when the template changes.`,
		Example: `  palisade rollout restart deployment/web
  palisade rollout restart deployment web api`,
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, names, err := parseTargets(args)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			k, err := lab.LookupKind(kind)
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			if len(names) == 0 {
				return fail(exitBadUsage, "error: required resource not specified")
			}
			if k.Kind != "Deployment" {
				return fail(exitNo, "error: the lab restarts deployments only: its %s pods are not replaced when their template changes", strings.ToLower(k.Kind))
			}
			mode, err := dryRunMode(s, dryRun)
			if err != nil {
				return err
			}
			patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, restartedAtAnnotation, time.Now().Format(time.RFC3339))
			return callLab(s, "/patch", lab.PatchRequest{Kind: k.Kind, Namespace: ns, Names: names, Type: lab.PatchStrategic, Patch: []byte(patch), DryRun: mode, Verb: "restarted"})
		},
	}
	restart.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	dryRunFlag(restart, &dryRun)
	var (
		sns     string
		timeout time.Duration
		watch   bool
	)
	status := &cobra.Command{
		Use:   "status (KIND/NAME | KIND NAME)",
		Short: "Wait until a Deployment, StatefulSet or DaemonSet has rolled out",
		Long: `Status prints kubectl's rollout messages as the workload's pods come up
and exits 0 when every replica is of the current template and available.
With --timeout, it gives up after that long and exits 1; --watch=false
prints the status once and exits 0.`,
		Example: `  palisade rollout status deployment/web
  palisade rollout status statefulset/db --timeout=2m`,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, name, err := oneTarget(args)
			if err != nil {
				return err
			}
			c, err := labClient()
			if err != nil {
				return err
			}
			var deadline time.Time
			if timeout > 0 {
				deadline = time.Now().Add(timeout)
			}
			last := ""
			for {
				st, err := c.State()
				if err != nil {
					return labError(err)
				}
				msg, done, err := lab.RolloutStatus(st, k, sns, name)
				if err != nil {
					return fail(exitNo, "%v", err)
				}
				if msg != last {
					fmt.Fprint(s.out, msg)
					last = msg
				}
				if done || !watch {
					return nil
				}
				if !deadline.IsZero() && time.Now().After(deadline) {
					return fail(exitNo, "error: timed out waiting for the condition")
				}
				time.Sleep(200 * time.Millisecond)
			}
		},
	}
	status.Flags().StringVarP(&sns, "namespace", "n", "default", "namespace")
	status.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long and exit 1 (0: wait for ever)")
	status.Flags().BoolVarP(&watch, "watch", "w", true, "wait until the rollout finishes")
	cmd.AddCommand(restart, status)
	return cmd
}

func newPortForward(s *streams) *cobra.Command {
	var (
		ns, address string
		podTimeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "port-forward (pod/NAME | NAME | svc/NAME | deployment/NAME) [LOCAL_PORT:]REMOTE_PORT...",
		Short: "Forward a local port to a port of a lab pod",
		Long: `Forward connections to 127.0.0.1:LOCAL_PORT on this machine to REMOTE_PORT
of a pod, as kubectl port-forward does: each connection is dialled to
localhost:REMOTE_PORT from inside the pod's network namespace, so it reaches
what the pod listens on, whatever the policies say (a port-forward is not
pod traffic). Nothing is added to the host's namespace but the loopback
listener.

For svc/NAME, REMOTE_PORT is a service port, forwarded to its target port
on the first running pod the service selects; deployment/NAME picks the
first running pod of the deployment. LOCAL_PORT defaults to REMOTE_PORT;
:REMOTE_PORT picks a free local port. Runs until interrupted.`,
		Example: `  palisade port-forward pod/client 8080:80
  palisade port-forward svc/web 8080:8080
  palisade port-forward deployment/web :80`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fail(exitNo, "error: TYPE/NAME and list of ports are required for port-forward\nSee '%s -h' for help and examples", cmd.CommandPath())
			}
			if address != "localhost" && address != "127.0.0.1" {
				return fail(exitBadUsage, "error: the lab forwards from 127.0.0.1 only, not %q", address)
			}
			kind, name := "pod", args[0]
			if k, n, ok := strings.Cut(args[0], "/"); ok {
				kind, name = k, n
			}
			k, err := lab.LookupKind(kind)
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			c, err := labClient()
			if err != nil {
				return err
			}
			pod, rt, svc, err := forwardTarget(c, k, ns, name, podTimeout)
			if err != nil {
				return err
			}
			type fwd struct {
				local  string
				remote int
				ln     net.Listener
			}
			var fwds []fwd
			for _, spec := range args[1:] {
				local, remote, ok := strings.Cut(spec, ":")
				if !ok {
					local, remote = spec, spec
				}
				port, err := remotePort(pod, svc, remote)
				if err != nil {
					return err
				}
				if local == "" {
					local = "0"
				}
				if _, err := strconv.ParseUint(local, 10, 16); err != nil {
					return fail(exitNo, "error: Error parsing local port '%s': %v", local, err)
				}
				ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", local))
				if err != nil {
					return fail(exitNo, "error: unable to listen on any of the requested ports: [{%s %d}]", local, port)
				}
				defer ln.Close()
				fwds = append(fwds, fwd{local: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), remote: port, ln: ln})
			}
			var mu sync.Mutex
			say := func(w io.Writer, format string, a ...any) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(w, format, a...)
			}
			for _, f := range fwds {
				say(s.out, "Forwarding from 127.0.0.1:%s -> %d\n", f.local, f.remote)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			for _, f := range fwds {
				go func() {
					for {
						conn, err := f.ln.Accept()
						if err != nil {
							return
						}
						say(s.out, "Handling connection for %s\n", f.local)
						go forwardConn(conn, rt.Netns, f.remote, func(err error) {
							say(s.err, "E%s portforward.go:424] \"Unhandled Error\" err=\"an error occurred forwarding %s -> %d: error forwarding port %d to pod %s, uid : %v\"\n",
								time.Now().Format("0102 15:04:05.000000"), f.local, f.remote, f.remote, pod.Name, err)
						})
					}
				}()
			}
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().StringVar(&address, "address", "localhost", "where to listen: localhost or 127.0.0.1")
	cmd.Flags().DurationVar(&podTimeout, "pod-running-timeout", time.Minute, "how long to wait for a running pod")
	return cmd
}

// forwardTarget finds the running pod a port-forward goes to.
func forwardTarget(c *lab.Client, k lab.Kind, ns, name string, within time.Duration) (*corev1.Pod, *state.Pod, *corev1.Service, error) {
	deadline := time.Now().Add(within)
	for {
		st, err := c.State()
		if err != nil {
			return nil, nil, nil, labError(err)
		}
		var sel labels.Selector
		var svc *corev1.Service
		key := state.Key(ns, name)
		switch k.Kind {
		case "Pod":
			p := st.Pods[key]
			if p == nil {
				return nil, nil, nil, fail(exitNo, "%s", k.NotFound(name))
			}
			if p.Status.Phase != corev1.PodRunning || st.Runtime[key] == nil {
				return nil, nil, nil, fail(exitNo, "error: unable to forward port because pod is not running. Current status=%s", p.Status.Phase)
			}
			return p, st.Runtime[key], nil, nil
		case "Service":
			if svc = st.Services[key]; svc == nil {
				return nil, nil, nil, fail(exitNo, "%s", k.NotFound(name))
			}
			sel = labels.SelectorFromSet(svc.Spec.Selector)
			if len(svc.Spec.Selector) == 0 {
				return nil, nil, nil, fail(exitNo, "error: invalid service '%s': Service is defined without a selector", name)
			}
		case "Deployment":
			d := st.Deployments[key]
			if d == nil {
				return nil, nil, nil, fail(exitNo, "%s", k.NotFound(name))
			}
			if sel, err = metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil {
				return nil, nil, nil, fail(exitNo, "error: %v", err)
			}
		default:
			return nil, nil, nil, fail(exitNo, "error: cannot attach to %s: not implemented", k.GroupResource())
		}
		objs, _ := lab.Objects(st, lab.Query{Kind: mustKind("Pod"), Namespace: ns, Selector: sel})
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if rt := st.Runtime[state.Key(ns, p.Name)]; p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && rt != nil {
				return p, rt, svc, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, nil, fail(exitNo, "error: timed out waiting for the condition")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustKind(name string) lab.Kind {
	k, _ := lab.LookupKind(name)
	return k
}

// remotePort is the pod port a REMOTE_PORT names: a number or a
// container port name, or for a service one of its ports, translated to
// its target port on the pod (kubectl's translateServicePortToTargetPort).
func remotePort(pod *corev1.Pod, svc *corev1.Service, remote string) (int, error) {
	if svc != nil {
		n, err := strconv.Atoi(remote)
		var sp *corev1.ServicePort
		for i, p := range svc.Spec.Ports {
			if err == nil && int(p.Port) == n || err != nil && p.Name == remote {
				sp = &svc.Spec.Ports[i]
			}
		}
		if sp == nil {
			return 0, fail(exitNo, "error: Service %s does not have a service port %s", svc.Name, remote)
		}
		tp := sp.TargetPort
		if tp.Type == intstr.Int && tp.IntVal == 0 {
			tp = intstr.FromInt32(sp.Port)
		}
		remote = tp.String()
	}
	if n, err := strconv.Atoi(remote); err == nil {
		if n < 1 || n > 65535 {
			return 0, fail(exitNo, "error: Error parsing remote port '%s': port out of range", remote)
		}
		return n, nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == remote {
				return int(p.ContainerPort), nil
			}
		}
	}
	return 0, fail(exitNo, "error: Pod '%s' does not have a named port '%s'", pod.Name, remote)
}

// forwardConn dials localhost:port inside the pod's network namespace, as
// the kubelet's port-forward does, and copies both ways. The socket is made
// in the pod's namespace and stays there; no thread of this process stays.
func forwardConn(local net.Conn, podNetns string, port int, report func(error)) {
	defer local.Close()
	var remote net.Conn
	p := strconv.Itoa(port)
	remote, err4 := plumbing.Dial(podNetns, "tcp4", net.JoinHostPort("127.0.0.1", p), 5*time.Second)
	var err error
	if err4 != nil {
		var err6 error
		if remote, err6 = plumbing.Dial(podNetns, "tcp6", net.JoinHostPort("::1", p), 5*time.Second); err6 != nil {
			err = fmt.Errorf("failed to connect to localhost:%d inside namespace %q, IPv4: %v IPv6 %v", port, podNetns, err4, err6)
		}
	}
	if err != nil {
		report(err)
		return
	}
	defer remote.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(remote, local); closeWrite(remote); done <- struct{}{} }()
	go func() { _, _ = io.Copy(local, remote); closeWrite(local); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
