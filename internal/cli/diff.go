package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/diff"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/report"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
)

func newDiff(s *streams) *cobra.Command {
	var (
		port      int32
		proto     string
		output    string
		family    int
		namespace string
		validate  string
		files     []string
		maxPairs  int
		live      inputFlags
	)
	cmd := &cobra.Command{
		Use:   "diff (OLD NEW [--port N [--protocol P]] [-o text|json|md|dot|svg] | -f PATH...)",
		Short: "Show the connections a change opens or closes",
		Long: `Diff compares who can reach whom in two versions of a cluster's manifests and
prints the connections that changed, grouped by workload pair and port range,
with the policy and rule responsible on each side. Egress to the cluster DNS
(kube-system pods labelled k8s-app=kube-dns; one is assumed when the input
has none) on 53 UDP/TCP that becomes denied is called out first.

OLD and NEW are each a file, a directory, or REV:PATH of the git repository
of the working directory (read with git, nothing is checked out): main:deploy/,
HEAD~1:policies.yaml, v1.2: for the whole tree. The namespaces, workloads and
services may differ between the two.

With --port, one port. -o json then prints exactly:

  {"added": [["x/a", "y/b"]], "removed": []}

the cells (FROM, TO as namespace/pod, sorted) where 'palisade matrix --port'
of OLD and of NEW differ; a pair that exists on one side only is denied on
the other. Without --port, every port either side names: -o json prints
{"ports": [{"protocol", "port", "added", "removed"}...], "changes": [...],
"dns": [...]}. -o md is a pull request comment; -o dot and -o svg draw the
workload pairs that gained or lost connections.

The grouped changes list the first --max-workload-pairs workload pairs (by
source, then destination name; 1000 unless told, 0 for all) and say when
more changed: a pod of no workload is a group of its own, and 10k bare pods
are up to 10^8 pairs. The --port -o json pairs and "ports" are always whole.

With --kubeconfig or --context, the cluster as it runs is the base of both
sides: each side is the cluster's objects with the side's files applied
after them (a policy in a file replaces the cluster's of the same name).
Given one path, OLD is the cluster alone: 'palisade diff --context prod
deploy/' says what applying deploy/ would change (docs/live-input.md).

Exit status: 0 no change, 1 changes, 2 unreadable or invalid input.

With -f and no OLD NEW, diff is kubectl diff against the running lab: a
unified diff (diff -u -N, or $KUBECTL_EXTERNAL_DIFF) of each object as the
lab holds it and as apply -f would make it (validated as a server dry run),
changing nothing. Exit 0 when apply would change nothing, 1 when it would,
above 1 on errors.`,
		Example: `  palisade diff main:deploy/ deploy/
  palisade diff HEAD~1:examples/04-frontend-backend-isolation examples/04-frontend-backend-isolation -o md
  palisade diff old.yaml new.yaml --port 8080 -o json
  palisade diff --context prod deploy/
  palisade diff -f examples/01-restricting-network-connectivity/`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(files) > 0 {
				return cobra.NoArgs(cmd, args)
			}
			if live.live.enabled() {
				return cobra.RangeArgs(1, 2)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(files) > 0 {
				in := inputFlags{files: files, namespace: namespace, validate: validate, cnp: true, crdChannel: string(clusterpolicy.ChannelExperimental)}
				return labDiff(cmd, s, &in)
			}
			var o diff.Options
			if cmd.Flags().Changed("protocol") || cmd.Flags().Changed("port") {
				p, err := protocolFlag(proto)
				if err != nil {
					return err
				}
				o.Protocol = p
			}
			if cmd.Flags().Changed("port") {
				if port < 1 || port > 65535 {
					return fail(exitBadUsage, "error: --port must be between 1 and 65535, got %d", port)
				}
				o.Port = port
			}
			o.Family = family
			if maxPairs < 0 {
				return fail(exitBadUsage, "error: --max-workload-pairs must be 0 (no bound) or more, got %d", maxPairs)
			}
			o.MaxGroupPairs = maxPairs
			switch output {
			case "text", "json", "md", "markdown", "dot", "svg":
			default:
				return fail(exitBadUsage, "error: -o must be text, json, md, dot or svg, not %q", output)
			}
			mode, err := manifest.ParseValidation(validate)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			var base []*manifest.Object
			if live.live.enabled() {
				if base, err = live.readLive(cmd, s); err != nil {
					return err
				}
				if namespace == "" {
					namespace = live.live.contextNamespace
				}
			}
			opts := manifest.Options{DefaultNamespace: namespace, Validation: mode, Stdin: s.in, ClusterNetworkPolicies: true}
			var sides [2]diff.Side
			if len(args) == 1 {
				// One path: OLD is the cluster as it runs.
				snap, err := buildSide(s, liveSideName(&live, base), base, nil)
				if err != nil {
					return err
				}
				sides[0] = diff.Side{Name: liveSideName(&live, base), Snap: snap, Engine: snap.Engine()}
				args = []string{"", args[0]}
			}
			for i, arg := range args {
				if arg == "" {
					continue
				}
				snap, err := loadSide(s, arg, opts, base)
				if err != nil {
					return err
				}
				name := arg
				if base != nil {
					name = liveSideName(&live, base) + " + " + arg
				}
				sides[i] = diff.Side{Name: name, Snap: snap, Engine: snap.Engine()}
			}
			o.NoExplain = output == "json" && o.Port != 0
			o.NoPairs = output != "json"
			r := diff.Compare(sides[0], sides[1], o)
			switch {
			case output == "json" && o.Port != 0:
				var pd diff.PortDiff
				if len(r.Ports) > 0 {
					pd = r.Ports[0]
				}
				err = report.DiffPortJSON(s.out, pd)
			case output == "json":
				err = report.DiffJSON(s.out, r)
			case output == "text":
				err = report.DiffText(s.out, r)
			case output == "dot":
				err = report.DiffDOT(s.out, r)
			case output == "svg":
				err = report.DiffSVG(s.out, r)
			default:
				err = report.DiffMarkdown(s.out, r)
			}
			if err != nil {
				return err
			}
			if r.Changed() {
				return fail(exitNo, "")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Int32Var(&port, "port", 0, "compare this destination port only (the pod's port)")
	f.StringVar(&proto, "protocol", "TCP", "TCP, UDP or SCTP (with --port, or alone to compare one protocol)")
	f.IntVar(&family, "ip-family", 0, "4 or 6: which address of dual-stack pods to judge")
	f.StringVarP(&output, "output", "o", "text", "text, json, md, dot or svg")
	f.StringVarP(&namespace, "namespace", "n", "", "namespace for objects without one (default \"default\")")
	live.cnp = true
	live.registerLive(cmd)
	f.IntVar(&maxPairs, "max-workload-pairs", 1000, "list the changes of at most this many workload pairs (0: all)")
	f.StringVar(&validate, "validate", "strict", "strict, warn or ignore: what unknown or duplicate fields do, as kubectl's --validate")
	f.StringArrayVarP(&files, "filename", "f", nil, "kubectl diff: manifests to compare with the running lab (file, directory or -)")
	return cmd
}

// loadSide reads one side and builds its snapshot. Every problem is printed
// as validate prints it (FILE:LINE: KIND NS/NAME: FIELD: MESSAGE, where FILE
// is REV:PATH for git input) and is bad input: exit 2.
func loadSide(s *streams, arg string, opts manifest.Options, base []*manifest.Object) (*cluster.Snapshot, error) {
	var res *manifest.Result
	var err error
	if _, statErr := os.Stat(arg); statErr == nil || arg == "-" {
		res, err = manifest.Load(opts, arg)
	} else if rp, ok := diff.ParseRevPath(arg); ok {
		res, err = loadGit(rp, opts)
	} else {
		return nil, fail(exitBadUsage, "error: the path %q does not exist (and is no REV:PATH)", manifest.Abbrev(arg))
	}
	if res != nil {
		for _, n := range res.Notes {
			fmt.Fprintf(s.err, "Warning: %s\n", n)
		}
	}
	var list manifest.ErrorList
	if errors.As(err, &list) {
		lines := list.Kubectl()
		for _, l := range lines[:len(lines)-1] {
			fmt.Fprintln(s.err, prefixError(l))
		}
		return nil, fail(exitBadUsage, "%s", prefixError(lines[len(lines)-1]))
	}
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	return buildSide(s, arg, base, res.Objects)
}

// liveSideName names the cluster as a side: "cluster CONTEXT", as the
// cluster's objects name their origin.
func liveSideName(live *inputFlags, base []*manifest.Object) string {
	if len(base) > 0 {
		// Its objects' origin is "cluster CONTEXT: KIND NS/NAME".
		name, _, _ := strings.Cut(base[0].Src.File, ": ")
		return name
	}
	if live.live.context != "" {
		return "cluster " + live.live.context
	}
	return "cluster"
}

// buildSide builds one side's snapshot of the cluster's objects (base, nil
// without --kubeconfig/--context) and the side's own after them.
func buildSide(s *streams, arg string, base, objs []*manifest.Object) (*cluster.Snapshot, error) {
	if base != nil {
		objs = append(append([]*manifest.Object(nil), base...), objs...)
	}
	snap, err := cluster.Build(objs, cluster.Options{CRDChannel: clusterpolicy.ChannelExperimental})
	var inv *cluster.InvalidError
	if errors.As(err, &inv) {
		for _, p := range inv.Problems {
			fmt.Fprintln(s.err, p)
		}
		return nil, fail(exitBadUsage, "error: %s: %d invalid %s; nothing was compared", manifest.Abbrev(arg),
			len(inv.Problems), analysis.Plural(len(inv.Problems), "field", "fields"))
	}
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	for _, w := range snap.Warnings {
		fmt.Fprintln(s.err, w)
	}
	return snap, nil
}

// loadGit reads REV:PATH from the repository of the working directory: a
// blob is one file, a tree its .yaml, .yml and .json files (recursively,
// in git's order, which is lexical as kubectl's walk). Nothing is checked
// out; positions name REV:PATH/FILE.
func loadGit(rp diff.RevPath, opts manifest.Options) (*manifest.Result, error) {
	obj := rp.String()
	typ, err := git(nil, "cat-file", "-t", obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", obj, err)
	}
	type file struct{ name, sha string }
	var files []file
	switch strings.TrimSpace(string(typ)) {
	case "blob":
		files = []file{{obj, obj}}
	case "tree":
		out, err := git(nil, "ls-tree", "-r", "-z", obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", obj, err)
		}
		for _, ent := range bytes.Split(out, []byte{0}) {
			// "MODE TYPE SHA\tNAME"
			meta, name, ok := bytes.Cut(ent, []byte{'\t'})
			fields := strings.Fields(string(meta))
			if !ok || len(fields) != 3 || fields[1] != "blob" {
				continue
			}
			n := string(name)
			switch path.Ext(n) {
			case ".yaml", ".yml", ".json":
				files = append(files, file{joinRevPath(rp, n), fields[2]})
			}
		}
	default:
		return nil, fmt.Errorf("%s is a %s, not a file or directory", obj, strings.TrimSpace(string(typ)))
	}
	// One git process reads every blob.
	var req bytes.Buffer
	for _, f := range files {
		req.WriteString(f.sha + "\n")
	}
	out, err := git(&req, "cat-file", "--batch")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", obj, err)
	}
	all := &manifest.Result{}
	var errs manifest.ErrorList
	br := bufio.NewReader(bytes.NewReader(out))
	for _, f := range files {
		header, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("%s: reading git's output: %v", f.name, err)
		}
		fields := strings.Fields(header)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s: %s", f.name, strings.TrimSpace(header))
		}
		size, err := strconv.Atoi(fields[2])
		if err != nil {
			return nil, fmt.Errorf("%s: %s", f.name, strings.TrimSpace(header))
		}
		data := make([]byte, size+1) // and the newline git ends it with
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, fmt.Errorf("%s: reading git's output: %v", f.name, err)
		}
		res, err := manifest.Decode(f.name, data[:size], opts)
		var list manifest.ErrorList
		if errors.As(err, &list) {
			errs = append(errs, list...)
		} else if err != nil {
			return nil, err
		}
		if res != nil {
			all.Objects = append(all.Objects, res.Objects...)
			all.Notes = append(all.Notes, res.Notes...)
		}
	}
	if len(errs) > 0 {
		return all, errs
	}
	return all, nil
}

func joinRevPath(rp diff.RevPath, name string) string {
	p := strings.TrimSuffix(rp.Path, "/")
	if p == "" || p == "." {
		return rp.Rev + ":" + name
	}
	return rp.Rev + ":" + p + "/" + name
}

func git(stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, errors.New(strings.TrimPrefix(msg, "fatal: "))
		}
		return nil, err
	}
	return out, nil
}
