package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/palisade-net/palisade/internal/lab"
	labprinters "github.com/palisade-net/palisade/internal/printers"
)

func newGet(s *streams) *cobra.Command {
	var (
		ns, selector, output, fieldSelector string
		allNamespaces                       bool
		showLabels, noHeader                bool
		watch, watchOnly                    bool
		requestTimeout                      string
	)
	cmd := &cobra.Command{
		Use:   "get KIND[,KIND...] [NAME...] [-o wide|yaml|json|name|jsonpath=TEMPLATE|custom-columns=SPEC] [-w]",
		Short: "List lab objects, as kubectl get does",
		Long: `List lab objects with kubectl's columns and output formats.

KIND is pods (po), services (svc), deployments (deploy), replicasets (rs),
statefulsets, daemonsets, jobs, cronjobs, networkpolicies (netpol),
clusternetworkpolicies (cnp), namespaces (ns), nodes (no), events, or all.

--field-selector selects by the fields the API server indexes: every kind
by metadata.name and metadata.namespace; pods also by spec.nodeName,
status.phase, status.podIP, spec.restartPolicy and the others kubectl
lists; namespaces by status.phase. Other fields are refused with the API
server's error.

-o custom-columns=HEADER:PATH,... prints one column per JSONPath (missing
values print <none>); -o custom-columns-file=FILE reads a line of headers
and a line of paths.

-w (--watch) prints the list, then a row for every object that changes,
until interrupted (or --request-timeout passes); --watch-only skips the
list.`,
		Example: `  palisade get pods -o wide
  palisade get netpol -A
  palisade get pods --selector=app=target -o jsonpath='{.items[0].metadata.name}'
  palisade get pods --field-selector=status.phase=Running,spec.nodeName=node-1
  palisade get pods -o custom-columns=NAME:.metadata.name,IP:.status.podIP,NODE:.spec.nodeName
  palisade get pods -w
  palisade get nodes -o wide`,
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
			var fsel fields.Selector
			if fieldSelector != "" {
				first, _, _ := strings.Cut(strings.Split(args[0], ",")[0], "/")
				if k, err := lab.LookupKind(first); err == nil {
					if fsel, err = lab.ParseFieldSelector(k, selector, fieldSelector); err != nil {
						return fail(exitNo, "%v", err)
					}
				} else if fsel, err = fields.ParseSelector(fieldSelector); err != nil {
					return fail(exitNo, "Error from server (BadRequest): %v", err)
				}
			}
			var columns []labprinters.Column
			switch {
			case output == "custom-columns" || strings.HasPrefix(output, "custom-columns="):
				var err error
				if columns, err = labprinters.ParseCustomColumns(strings.TrimPrefix(strings.TrimPrefix(output, "custom-columns"), "=")); err != nil {
					return fail(exitNo, "error: %v", err)
				}
			case strings.HasPrefix(output, "custom-columns-file="):
				f, err := os.Open(strings.TrimPrefix(output, "custom-columns-file="))
				if err != nil {
					return fail(exitNo, "error: error reading template %s, %v", strings.TrimPrefix(output, "custom-columns-file="), err)
				}
				columns, err = labprinters.ParseCustomColumnsFile(f)
				f.Close()
				if err != nil {
					return fail(exitNo, "error: %v", err)
				}
			}
			timeout, err := parseRequestTimeout(requestTimeout)
			if err != nil {
				return err
			}
			watch = watch || watchOnly
			client := lab.NewClient(lab.Dir())
			st, err := client.State()
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
			if watch && len(kinds) > 1 {
				return fail(exitNo, "error: you may only specify a single resource type")
			}
			for _, k := range kinds {
				if fsel != nil {
					if err := lab.CheckFieldSelector(k, selector, fsel); err != nil {
						return fail(exitNo, "%v", err)
					}
				}
			}
			var all []runtime.Object
			var groups []group
			for _, k := range kinds {
				objs, err := lab.Objects(st, lab.Query{Kind: k, Namespace: ns, AllNamespaces: allNamespaces, Names: names, Selector: sel, Fields: fsel})
				if err != nil {
					return fail(exitNo, "error: %v", err)
				}
				for _, n := range names {
					found := false
					for _, o := range objs {
						found = found || o.(interface{ GetName() string }).GetName() == n
					}
					if !found {
						return fail(exitNo, "%s", k.NotFound(n))
					}
				}
				groups = append(groups, group{k, objs})
				all = append(all, objs...)
			}
			pr := getPrinter{s: s, output: output, columns: columns, wide: output == "wide", withNamespace: allNamespaces,
				showLabels: showLabels, noHeader: noHeader, withKind: withKind}
			if watch {
				q := lab.Query{Kind: kinds[0], Namespace: ns, AllNamespaces: allNamespaces, Names: names, Selector: sel, Fields: fsel}
				return watchObjects(cmd.Context(), client, pr, q, groups[0].objs, watchOnly, timeout)
			}
			if columns != nil {
				if err := labprinters.PrintCustomColumns(s.out, columns, all, noHeader); err != nil {
					return fail(exitNo, "error: %v", err)
				}
				return nil
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
				return fail(exitBadUsage, "error: unable to match a printer suitable for the output format %q, allowed formats are: custom-columns,custom-columns-file,json,jsonpath,name,wide,yaml", output)
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
				if err := pr.table(g, noHeader); err != nil {
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
	f.StringVar(&fieldSelector, "field-selector", "", "field selector (e.g. status.phase=Running,spec.nodeName=node-1)")
	f.BoolVarP(&watch, "watch", "w", false, "after the list, print every change until interrupted")
	f.BoolVar(&watchOnly, "watch-only", false, "print changes only, not the list first")
	f.StringVar(&requestTimeout, "request-timeout", "0", "end a watch after this long (1s, 2m; 0: never)")
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
				return fail(exitNo, "%s", k.NotFound(names[0]))
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
