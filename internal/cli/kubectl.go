package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/validation"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
)

// client returns a client for the running lab, restarting its daemon if it
// died (the lab's namespaces and pods survive a daemon crash).
func labClient() (*lab.Client, error) {
	c, err := lab.EnsureDaemon(lab.Dir())
	return c, labError(err)
}

// printResponse prints the daemon's kubectl-style lines and turns its error
// into the exit status kubectl would give.
func printResponse(s *streams, r lab.Response) error {
	for _, l := range r.Lines {
		if strings.HasPrefix(l, "No resources found") || strings.HasPrefix(l, "warning: ") || strings.HasPrefix(l, "Warning: ") {
			fmt.Fprintln(s.err, l)
			continue
		}
		fmt.Fprintln(s.out, l)
	}
	if r.Error != "" {
		return fail(exitNo, "%s", r.Error)
	}
	return nil
}

func newApply(s *streams, create bool) *cobra.Command {
	var in inputFlags
	var dryRun, output string
	verb := "apply"
	short := "Apply manifests to the lab (create or update)"
	if create {
		verb = "create"
		short = "Create objects in the lab from manifests (fails if they exist)"
	}
	cmd := &cobra.Command{
		Use:   verb + " -f PATH...",
		Short: short,
		Long: short + `.

Every object is validated first, exactly as kube-apiserver would, with
errors naming the file and line; one invalid object means nothing is
applied. Deployments, StatefulSets, DaemonSets and Jobs get their pods;
services get a cluster IP and DNS name.

--dry-run=client or --dry-run=server validates everything the same way and
prints what would happen ("... created (dry run)"), changing nothing; with
-o yaml it prints the objects as they would be stored.`,
		Example: "  palisade " + verb + " -f examples/01-restricting-network-connectivity/\n" +
			"  palisade " + verb + " -f examples/01-restricting-network-connectivity/ --dry-run=server\n" +
			"  palisade " + verb + " -f examples/01-restricting-network-connectivity/ --dry-run=client -o yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := dryRunMode(s, dryRun)
			if err != nil {
				return err
			}
			if output != "" && output != "yaml" && output != "json" && output != "name" {
				return fail(exitBadUsage, "error: unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", output)
			}
			res, err := in.load(cmd, s)
			if err != nil {
				return err
			}
			res.Objects = labServes(s, res.Objects)
			errs, warnings := cluster.Validate(res.Objects)
			for _, w := range warnings {
				fmt.Fprintln(s.err, w)
			}
			if len(errs) > 0 {
				for _, e := range errs {
					fmt.Fprintln(s.err, e)
				}
				return fail(exitNo, "error: %d invalid %s; nothing was applied", len(errs), analysis.Plural(len(errs), "field", "fields"))
			}
			req := lab.ApplyRequest{Create: create, DryRun: mode, Echo: output != ""}
			for _, o := range res.Objects {
				w, err := lab.Encode(o.Kind, o.Obj)
				if err != nil {
					return err
				}
				req.Objects = append(req.Objects, w)
			}
			c, err := labClient()
			if err != nil {
				return err
			}
			r, err := c.Call("/apply", req)
			if err != nil {
				return labError(err)
			}
			if output == "" || r.Error != "" {
				return printResponse(s, r)
			}
			return printApplied(s, r, output)
		},
	}
	in.register(cmd)
	dryRunFlag(cmd, &dryRun)
	cmd.Flags().StringVarP(&output, "output", "o", "", "yaml, json or name: print the objects as stored (with --dry-run: as they would be)")
	// The lab serves ClusterNetworkPolicies, validated as its store does.
	in.cnp, in.crdChannel = true, string(clusterpolicy.ChannelExperimental)
	if create {
		cmd.AddCommand(newCreateNamespace(s))
	}
	return cmd
}

// labServes keeps the objects of kinds the lab serves; the others (Nodes,
// which the loader reads for analysis) are skipped, said as the loader says
// it of kinds Palisade does not use.
func labServes(s *streams, objs []*manifest.Object) []*manifest.Object {
	out := objs[:0:0]
	for _, o := range objs {
		if k, ok := lab.KindOf(o.Kind); ok && k.Applied() {
			out = append(out, o)
			continue
		}
		ref := cluster.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		fmt.Fprintf(s.err, "%s: %s: skipped: the lab does not serve kind %q\n", o.Src, ref, o.Kind)
	}
	return out
}

func newCreateNamespace(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:     "namespace NAME",
		Aliases: []string{"ns"},
		Short:   "Create a namespace",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := labClient()
			if err != nil {
				return err
			}
			ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: args[0]}}
			return applyObjects(s, c, []runtime.Object{ns}, true)
		},
	}
}

// selects reports whether a pod is among the named ones, matches the
// selector, or --all was given.
func selects(p *corev1.Pod, names []string, selector string, all bool) bool {
	if all {
		return true
	}
	for _, n := range names {
		if n == p.Name {
			return true
		}
	}
	if selector != "" {
		sel, err := labels.Parse(selector)
		return err == nil && sel.Matches(labels.Set(p.Labels))
	}
	return false
}

// splitNames accepts kubectl's forms: "a b", "a,b" and the "a, b" users
// type.
func splitNames(args []string) []string {
	var out []string
	for _, a := range args {
		for _, n := range strings.Split(a, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// parseTargets reads "KIND NAME...", "KIND/NAME..." and "KIND" forms.
func parseTargets(args []string) (kind string, names []string, err error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("you must specify the type of resource")
	}
	if k, n, ok := strings.Cut(args[0], "/"); ok {
		for _, a := range args {
			ak, an, ok := strings.Cut(a, "/")
			if !ok || ak != k {
				return "", nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form")
			}
			names = append(names, an)
		}
		_ = n
		return k, names, nil
	}
	return args[0], splitNames(args[1:]), nil
}

func newDelete(s *streams) *cobra.Command {
	var (
		in             inputFlags
		all            bool
		selector       string
		allNamespaces  bool
		ignoreNotFound bool
	)
	cmd := &cobra.Command{
		Use:   "delete (-f PATH | KIND NAME... | KIND --all | KIND -l SELECTOR)",
		Short: "Delete objects from the lab",
		Example: `  palisade delete -f examples/01-restricting-network-connectivity/
  palisade delete netpol deny-all-ingress allow-target-from-allowed
  palisade delete pods --all -n default`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var reqs []lab.DeleteRequest
			if len(in.files) > 0 {
				res, err := in.load(cmd, s)
				if err != nil {
					return err
				}
				// In file order, as kubectl prints them.
				for _, o := range labServes(s, res.Objects) {
					reqs = append(reqs, lab.DeleteRequest{Kind: o.Kind, Namespace: o.Namespace, Names: []string{o.Name}, IgnoreNotFound: ignoreNotFound})
				}
			} else {
				kind, names, err := parseTargets(args)
				if err != nil {
					return fail(exitBadUsage, "error: %v", err)
				}
				if _, err := lab.LookupKind(kind); err != nil {
					return fail(exitNo, "error: %v", err)
				}
				if len(names) == 0 && !all && selector == "" {
					return fail(exitBadUsage, "error: resource(s) were provided, but no name was specified")
				}
				reqs = append(reqs, lab.DeleteRequest{Kind: kind, Namespace: in.ns(), Names: names, All: all, Selector: selector,
					AllNamespaces: allNamespaces, IgnoreNotFound: ignoreNotFound})
			}
			return callLab(s, "/delete", reqs)
		},
	}
	in.register(cmd)
	in.cnp, in.crdChannel = true, string(clusterpolicy.ChannelExperimental)
	cmd.Flags().BoolVar(&all, "all", false, "delete all objects of the kind in the namespace")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "in every namespace")
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "treat missing objects as deleted")
	return cmd
}

func newLabel(s *streams) *cobra.Command {
	var (
		ns        string
		overwrite bool
		all       bool
		selector  string
	)
	cmd := &cobra.Command{
		Use:   "label KIND NAME KEY=VALUE... KEY-...",
		Short: "Set or remove labels on pods, namespaces and other objects",
		Example: `  palisade label pod allowed-659f75f4c6-sqbzt role=frontend
  palisade label namespace default team=ops --overwrite
  palisade label pod allowed-659f75f4c6-sqbzt role-`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fail(exitBadUsage, "error: one or more resources must be specified as <resource> <name> or <resource>/<name>")
			}
			req := lab.LabelRequest{Namespace: ns, Overwrite: overwrite, All: all, Selector: selector, Set: map[string]string{}}
			var rest []string
			if k, n, ok := strings.Cut(args[0], "/"); ok {
				req.Kind, req.Names, rest = k, []string{n}, args[1:]
			} else {
				req.Kind = args[0]
				rest = args[1:]
				for len(rest) > 0 && !strings.Contains(rest[0], "=") && !strings.HasSuffix(rest[0], "-") {
					req.Names = append(req.Names, rest[0])
					rest = rest[1:]
				}
			}
			for _, a := range rest {
				if k, v, ok := strings.Cut(a, "="); ok {
					req.Set[k] = v
				} else if k, ok := strings.CutSuffix(a, "-"); ok {
					req.Remove = append(req.Remove, k)
				} else {
					return fail(exitBadUsage, "error: invalid label spec: %s", a)
				}
			}
			if len(req.Set)+len(req.Remove) == 0 {
				return fail(exitBadUsage, "error: at least one label update is required")
			}
			if len(req.Names) == 0 && !all && selector == "" {
				return fail(exitBadUsage, "error: resource(s) were provided, but no name was specified")
			}
			return callLab(s, "/label", req)
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "allow changing a label that has a value")
	cmd.Flags().BoolVar(&all, "all", false, "every object of the kind in the namespace")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector")
	return cmd
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("invalid label spec %q: want KEY=VALUE", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func newExpose(s *streams) *cobra.Command {
	var (
		ns, name, targetPort, protocol string
		port                           int32
	)
	cmd := &cobra.Command{
		Use:   "expose (deployment|pod) NAME --port N [--target-port P] [--name SVC]",
		Short: "Create a ClusterIP service for a deployment or a pod",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, names, err := parseTargets(args)
			if err != nil || len(names) != 1 {
				return fail(exitBadUsage, "error: expose takes one KIND NAME")
			}
			k, err := lab.LookupKind(kind)
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			c, err := labClient()
			if err != nil {
				return err
			}
			st, err := c.State()
			if err != nil {
				return labError(err)
			}
			if k.Exposes == nil {
				return fail(exitBadUsage, "error: cannot expose a %s", k.Kind)
			}
			objs, err := lab.Objects(st, lab.Query{Kind: k, Namespace: ns, Names: names})
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			if len(objs) == 0 {
				res := k.Resource
				if k.Group != "" {
					res += "." + k.Group
				}
				return fail(exitNo, "Error from server (NotFound): %s %q not found", res, names[0])
			}
			selector, ports := k.Exposes(objs[0])
			if !cmd.Flags().Changed("port") {
				if len(ports) == 0 {
					return fail(exitBadUsage, "error: couldn't find port via --port flag or introspection")
				}
				port = ports[0].ContainerPort
			}
			if name == "" {
				name = names[0]
			}
			svc := newService(ns, name, selector, port, targetPort, corev1.Protocol(strings.ToUpper(protocol)))
			return applyObjects(s, c, []runtime.Object{svc}, true)
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().Int32Var(&port, "port", 0, "the service port")
	cmd.Flags().StringVar(&targetPort, "target-port", "", "container port number or name (default: --port)")
	cmd.Flags().StringVar(&name, "name", "", "service name (default: the object's)")
	cmd.Flags().StringVar(&protocol, "protocol", "TCP", "TCP, UDP or SCTP")
	return cmd
}

func newService(ns, name string, selector map[string]string, port int32, targetPort string, proto corev1.Protocol) *corev1.Service {
	tp := intstr.FromInt32(port)
	if targetPort != "" {
		tp = intstr.Parse(targetPort)
	}
	proto = validation.ProtocolOrTCP(proto)
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: selector},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{
			{Port: port, TargetPort: tp, Protocol: proto}}},
	}
}

func applyObjects(s *streams, c *lab.Client, objs []runtime.Object, create bool) error {
	req := lab.ApplyRequest{Create: create}
	for _, o := range objs {
		w, err := lab.Encode(o.GetObjectKind().GroupVersionKind().Kind, o)
		if err != nil {
			return err
		}
		req.Objects = append(req.Objects, w)
	}
	r, err := c.Call("/apply", req)
	if err != nil {
		return labError(err)
	}
	return printResponse(s, r)
}

func newWait(s *streams) *cobra.Command {
	var (
		ns, forCond, selector string
		all, allNamespaces    bool
		timeout               time.Duration
	)
	cmd := &cobra.Command{
		Use:     "wait (KIND/NAME | KIND -l SELECTOR | KIND --all) --for=condition=Ready",
		Short:   "Wait until pods are Ready (or deleted)",
		Example: "  palisade wait --for=condition=Ready pod -l app=target --timeout=60s",
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, names, err := parseTargets(args)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			k, err := lab.LookupKind(kind)
			if err != nil || k.Kind != "Pod" {
				return fail(exitBadUsage, "error: the lab can wait for pods only")
			}
			cond, deleted := "", false
			switch {
			case strings.HasPrefix(strings.ToLower(forCond), "condition="):
				cond = strings.TrimPrefix(strings.ToLower(forCond), "condition=")
			case forCond == "delete":
				deleted = true
			default:
				return fail(exitBadUsage, "error: --for must be condition=Ready or delete")
			}
			c, err := labClient()
			if err != nil {
				return err
			}
			deadline := time.Now().Add(timeout)
			for {
				st, err := c.State()
				if err != nil {
					return labError(err)
				}
				var pending []string
				var done []string
				matched := 0
				for _, key := range slices.Sorted(maps.Keys(st.Pods)) {
					p := st.Pods[key]
					if !allNamespaces && p.Namespace != ns || !selects(p, names, selector, all || allNamespaces && len(names) == 0 && selector == "") {
						continue
					}
					matched++
					ok := false
					for _, pc := range p.Status.Conditions {
						if strings.EqualFold(string(pc.Type), cond) && pc.Status == corev1.ConditionTrue {
							ok = true
						}
					}
					if ok && !deleted {
						done = append(done, p.Name)
					} else {
						pending = append(pending, p.Name)
					}
				}
				if deleted && matched == 0 || !deleted && matched > 0 && len(pending) == 0 {
					for _, n := range done {
						fmt.Fprintf(s.out, "pod/%s condition met\n", n)
					}
					for _, n := range names {
						if deleted {
							fmt.Fprintf(s.out, "pod/%s condition met\n", n)
						}
					}
					return nil
				}
				if matched == 0 && len(names) > 0 && !deleted {
					return fail(exitNo, "Error from server (NotFound): pods %q not found", names[0])
				}
				if matched == 0 && !deleted {
					return fail(exitNo, "error: no matching resources found")
				}
				if time.Now().After(deadline) {
					return fail(exitNo, "error: timed out waiting for the condition on pods/%s", strings.Join(pending, ", pods/"))
				}
				time.Sleep(100 * time.Millisecond)
			}
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().StringVar(&forCond, "for", "condition=Ready", "condition=Ready or delete")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector")
	cmd.Flags().BoolVar(&all, "all", false, "all pods in the namespace")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "in every namespace")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}
