package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/palisade-net/palisade/internal/lab"
)

func newGet(s *streams) *cobra.Command {
	var (
		ns, selector, output string
		allNamespaces        bool
		showLabels, noHeader bool
	)
	cmd := &cobra.Command{
		Use:   "get KIND[,KIND...] [NAME...] [-o wide|yaml|json|name|jsonpath=TEMPLATE]",
		Short: "List lab objects, as kubectl get does",
		Long: `List lab objects with kubectl's columns and output formats.

KIND is pods (po), services (svc), deployments (deploy), replicasets (rs),
statefulsets, daemonsets, jobs, cronjobs, networkpolicies (netpol),
clusternetworkpolicies (cnp), namespaces (ns), events, or all.`,
		Example: `  palisade get pods -o wide
  palisade get netpol -A
  palisade get pods --selector=app=target -o jsonpath='{.items[0].metadata.name}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fail(exitBadUsage, "You must specify the type of resource to get. Use \"palisade get all\" or one of: pods, services, deployments, networkpolicies, namespaces, ...")
			}
			var sel labels.Selector
			if selector != "" {
				var err error
				if sel, err = labels.Parse(selector); err != nil {
					return fail(exitBadUsage, "error: %v", err)
				}
			}
			st, err := lab.NewClient(lab.Dir()).State()
			if err != nil {
				return labError(err)
			}
			kindArg, names := args[0], args[1:]
			if k, n, ok := strings.Cut(args[0], "/"); ok {
				kindArg, names = k, []string{n}
			}
			var kinds []lab.Kind
			withKind := false
			for _, ks := range strings.Split(kindArg, ",") {
				if ks == "all" {
					withKind = true
					for _, k := range lab.Kinds {
						if k.InAll {
							kinds = append(kinds, k)
						}
					}
					continue
				}
				k, err := lab.LookupKind(ks)
				if err != nil {
					return fail(exitNo, "error: %v", err)
				}
				kinds = append(kinds, k)
			}
			withKind = withKind || len(kinds) > 1
			var all []runtime.Object
			type group struct {
				kind lab.Kind
				objs []runtime.Object
			}
			var groups []group
			for _, k := range kinds {
				objs, err := lab.Objects(st, lab.Query{Kind: k, Namespace: ns, AllNamespaces: allNamespaces, Names: names, Selector: sel})
				if err != nil {
					return fail(exitNo, "error: %v", err)
				}
				for _, n := range names {
					found := false
					for _, o := range objs {
						found = found || o.(interface{ GetName() string }).GetName() == n
					}
					if !found {
						return fail(exitNo, "Error from server (NotFound): %s %q not found", k.Qualified(), n)
					}
				}
				groups = append(groups, group{k, objs})
				all = append(all, objs...)
			}
			single := len(names) == 1 && len(kinds) == 1 && len(all) == 1
			switch {
			case output == "json" || output == "yaml":
				p := printers.ResourcePrinter(&printers.JSONPrinter{})
				if output == "yaml" {
					p = &printers.YAMLPrinter{}
				}
				if single {
					return p.PrintObj(all[0], s.out)
				}
				return p.PrintObj(asList(all), s.out)
			case strings.HasPrefix(output, "jsonpath="), strings.HasPrefix(output, "jsonpath-as-json="):
				tmpl := strings.SplitN(output, "=", 2)[1]
				p, err := printers.NewJSONPathPrinter(tmpl)
				if err != nil {
					return fail(exitBadUsage, "error: error parsing jsonpath %s, %v", tmpl, err)
				}
				// kubectl's --allow-missing-template-keys defaults to true:
				// a missing key prints nothing.
				p.AllowMissingKeys(true)
				p.EnableJSONOutput(strings.HasPrefix(output, "jsonpath-as-json="))
				if single {
					err = p.PrintObj(all[0], s.out)
				} else {
					err = p.PrintObj(asList(all), s.out)
				}
				if err != nil {
					return fail(exitNo, "error: %v", err)
				}
				return nil
			case output == "name":
				for _, g := range groups {
					for _, o := range g.objs {
						fmt.Fprintf(s.out, "%s/%s\n", g.kind.Qualified(), o.(interface{ GetName() string }).GetName())
					}
				}
				return nil
			case output != "" && output != "wide":
				return fail(exitBadUsage, "error: unable to match a printer suitable for the output format %q, allowed formats are: json,jsonpath,name,wide,yaml", output)
			}
			if len(all) == 0 {
				where := fmt.Sprintf("in %s namespace", ns)
				if allNamespaces {
					where = ""
				}
				if len(kinds) == 1 && !kinds[0].Namespaced {
					where = ""
				}
				fmt.Fprintln(s.err, strings.TrimSpace("No resources found "+where)+".")
				return nil
			}
			first := true
			for _, g := range groups {
				if len(g.objs) == 0 {
					continue
				}
				if !first {
					fmt.Fprintln(s.out)
				}
				first = false
				gk := schema.GroupKind{Group: g.kind.Group, Kind: g.kind.Kind}
				p := printers.NewTablePrinter(printers.PrintOptions{
					Wide: output == "wide", WithNamespace: allNamespaces && g.kind.Namespaced, ShowLabels: showLabels,
					NoHeaders: noHeader, WithKind: withKind, Kind: gk,
				})
				if err := p.PrintObj(g.kind.Print.Table(g.objs, time.Now()), s.out); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&ns, "namespace", "n", "default", "namespace")
	f.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	f.StringVarP(&selector, "selector", "l", "", "label selector (e.g. app=target)")
	f.StringVarP(&output, "output", "o", "", "wide, yaml, json, name or jsonpath=TEMPLATE")
	f.BoolVar(&showLabels, "show-labels", false, "add a LABELS column")
	f.BoolVar(&noHeader, "no-headers", false, "omit the header row")
	return cmd
}

// asList wraps objects the way the API server answers a list, so that
// templates such as {.items[0].metadata.name} work as with kubectl.
func asList(objs []runtime.Object) runtime.Object {
	// An empty list has "items": [], not null, so that jq '.items[]' works.
	l := &corev1.List{Items: []runtime.RawExtension{}}
	l.APIVersion, l.Kind = "v1", "List"
	for _, o := range objs {
		l.Items = append(l.Items, runtime.RawExtension{Object: o})
	}
	return l
}

func newDescribe(s *streams) *cobra.Command {
	var ns, selector string
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:     "describe KIND [NAME... | -l SELECTOR]",
		Short:   "Show details of a pod, service, network policy, cluster network policy, deployment or namespace",
		Example: "  palisade describe pod target-6b96dccfdf-b4g2v\n  palisade describe pods -l app=target\n  palisade describe netpol deny-all-ingress",
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, names, err := parseTargets(args)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			k, err := lab.LookupKind(kind)
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			st, err := lab.NewClient(lab.Dir()).State()
			if err != nil {
				return labError(err)
			}
			sel := labels.Everything()
			if selector != "" {
				if sel, err = labels.Parse(selector); err != nil {
					return fail(exitBadUsage, "error: %v", err)
				}
			}
			objs, err := lab.Objects(st, lab.Query{Kind: k, Namespace: ns, AllNamespaces: allNamespaces, Names: names, Selector: sel})
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			if len(names) > 0 && len(objs) == 0 {
				return fail(exitNo, "Error from server (NotFound): %s %q not found", k.Qualified(), names[0])
			}
			if len(objs) == 0 {
				return fail(exitNo, "No resources found in %s namespace.", ns)
			}
			for i, o := range objs {
				if i > 0 {
					fmt.Fprint(s.out, "\n\n")
				}
				if err := k.Print.Describe(s.out, o, lab.Facts(st, o), time.Now()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "in every namespace")
	return cmd
}
