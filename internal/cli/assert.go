package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/assert"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/manifest"
)

func newTest(s *streams) *cobra.Command {
	var (
		in         inputFlags
		files      []string
		junit      string
		output     string
		inLab      bool
		probeOpts  lab.ProbeOptions
		assertions []assert.Assertion
	)
	cmd := &cobra.Command{
		Use:   "test -f MANIFESTS... --assertions FILE [--junit OUT] [-o text|tap|json]",
		Short: "Check promised connectivity (assertion files, netassert v2 files) against the policies",
		Long: `Test reads assertions (the connections a team promises: allowed or denied)
and judges each one: by default with the engine on the manifests (-f) or on
a live cluster's objects (--kubeconfig/--context, read-only); with --lab by
real connections in the running lab, with the engine's prediction beside each
measurement.

An assertions file is Palisade's format (docs/assertions.md):

  assertions:
  - name: allowed reaches target
    from: default/deploy/allowed       # pod NS/NAME, NS/KIND/NAME, KIND/NS/NAME, IP
    to: svc/default/target             # or a service: svc/NS/NAME, NS/svc/NAME
    port: 2345                         # the service port for a service
    protocol: TCP                      # TCP (default), UDP, SCTP
    expect: allowed                    # or denied

or a netassert v2 test file, unchanged (src/dst k8sResource or host,
targetPort, exitCode 0 = must connect). --assertions may be repeated and may
name a directory (its .yaml and .yml files).

An assertion stands for every connection it names (each pod of a workload,
each endpoint of a service): "allowed" needs all of them allowed, "denied"
all of them denied.

With --lab, each assertion's connections are made from the source pods'
network namespaces: to a pod or workload on its pod addresses, to a service
through its cluster IP (then only when the service leads to that one pod:
a connection that cannot be made the way the assertion asks is reported as
not measured and fails; it is never made another way).

Output: -o text (default), tap (TAP version 13) or json; --junit FILE also
writes JUnit XML, one testcase per assertion named by it, a failure's message
saying why and its text the 'palisade check' explanation.

Exit status: 0 every assertion passed (skipped ones aside), 1 one failed,
2 bad input (an unreadable assertion names FILE:LINE: FIELD; an assertion
naming something the cluster does not hold).`,
		Example: `  palisade test -f examples/01-restricting-network-connectivity --assertions docs/examples/01-assertions.yaml
  # netassert v2 files as they are; a directory reads its .yaml files
  palisade test -f examples/01-restricting-network-connectivity --assertions docs/examples/ -o tap
  palisade test --kubeconfig ~/.kube/config --assertions promises.yaml --junit junit.xml
  sudo palisade test --lab --assertions docs/examples/01-assertions.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fail(exitBadUsage, "error: --assertions is required\nSee '%s --help' for usage.", cmd.CommandPath())
			}
			if output != "text" && output != "tap" && output != "json" {
				return fail(exitBadUsage, "error: -o must be text, tap or json, not %q", output)
			}
			if inLab && (len(in.files) > 0 || in.live.enabled()) {
				return fail(exitBadUsage, "error: --lab judges the lab's own objects: apply manifests to it first, and give no -f, --kubeconfig or --context")
			}
			var err error
			if assertions, err = readAssertions(s, files); err != nil {
				return err
			}
			var results []assert.Result
			if inLab {
				if results, err = testInLab(s, assertions, in.ns(), probeOpts); err != nil {
					return err
				}
			} else {
				snap, err := in.snapshot(cmd, s)
				if err != nil {
					return err
				}
				results = assert.Judge(assert.Offline(snap), assertions, in.ns())
			}
			if junit != "" {
				var b bytes.Buffer
				if err := assert.JUnit(&b, results); err != nil {
					return err
				}
				if err := os.WriteFile(junit, b.Bytes(), 0o644); err != nil {
					return fail(exitBadUsage, "error: writing --junit: %v", err)
				}
			}
			switch output {
			case "tap":
				err = assert.TAP(s.out, results)
			case "json":
				err = assert.JSON(s.out, results)
			default:
				err = assert.Text(s.out, results)
			}
			if err != nil {
				return err
			}
			sum := assert.Summarize(results)
			for _, r := range results {
				if r.Status == assert.Error {
					fmt.Fprintln(s.err, "error: "+r.Message)
				}
			}
			switch {
			case sum.Errors > 0:
				return fail(exitBadUsage, "")
			case sum.Failed > 0:
				return fail(exitNo, "")
			}
			return nil
		},
	}
	in.registerAnalysis(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&files, "assertions", nil, "assertions file or directory (Palisade's format or netassert v2); repeatable")
	f.StringVar(&junit, "junit", "", "also write a JUnit XML report to this file")
	f.StringVarP(&output, "output", "o", "text", "text, tap or json")
	f.BoolVar(&inLab, "lab", false, "measure with real connections in the running lab (root), beside the engine's prediction")
	f.DurationVar(&probeOpts.Timeout, "timeout", time.Second, "with --lab: per-connection timeout")
	f.IntVar(&probeOpts.Attempts, "attempts", 3, "with --lab: tries for a connection that disagrees with the prediction")
	return cmd
}

// readAssertions reads every file (a directory: its .yaml and .yml files,
// not recursively, as netassert reads one) and prints each problem as
// FILE:LINE: FIELD: MESSAGE.
func readAssertions(s *streams, paths []string) ([]assert.Assertion, error) {
	var out []assert.Assertion
	var problems []string
	seen := map[string]string{}
	for _, p := range paths {
		files := []string{p}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fail(exitBadUsage, "error: %v", err)
			}
			files = nil
			for _, e := range entries {
				if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
			if len(files) == 0 {
				return nil, fail(exitBadUsage, "error: no .yaml or .yml assertions file in %q", manifest.Abbrev(p))
			}
		}
		for _, file := range files {
			data, err := readInput(s, file)
			if err != nil {
				return nil, fail(exitBadUsage, "error: %v", err)
			}
			as, err := assert.Parse(file, data)
			var list assert.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					problems = append(problems, manifest.AbbrevMessage(e.Error()))
				}
				continue
			}
			for _, a := range as {
				// JUnit names test cases by assertion: unique across files.
				if prev, dup := seen[a.Name]; dup {
					problems = append(problems, manifest.AbbrevMessage(fmt.Sprintf("%s: name: duplicate name %q (first at %s)", a.Source(), a.Name, prev)))
					continue
				}
				seen[a.Name] = a.Source()
				out = append(out, a)
			}
		}
	}
	if len(problems) > 0 {
		for _, p := range problems[:len(problems)-1] {
			fmt.Fprintln(s.err, "error: "+p)
		}
		return nil, fail(exitBadUsage, "error: %s", problems[len(problems)-1])
	}
	return out, nil
}

func readInput(s *streams, file string) ([]byte, error) {
	if file == "-" {
		var b bytes.Buffer
		_, err := b.ReadFrom(s.in)
		return b.Bytes(), err
	}
	return os.ReadFile(file)
}

// testInLab judges the assertions on the lab's state, then measures them:
// the lab's probe, once per (protocol, port, how dialled), over the
// namespaces the assertions name.
func testInLab(s *streams, as []assert.Assertion, ns string, o lab.ProbeOptions) ([]assert.Result, error) {
	if os.Geteuid() != 0 {
		return nil, labError(lab.ErrNotRoot)
	}
	c, err := labClient()
	if err != nil {
		return nil, err
	}
	st, err := c.State()
	if err != nil {
		return nil, labError(err)
	}
	snap, err := observedSnapshot(s, labObserved(st), "lab")
	if err != nil {
		return nil, err
	}
	results := assert.Judge(assert.Offline(snap), as, ns)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return results, measureInLab(ctx, st, results, o)
}

type probeKey struct {
	proto corev1.Protocol
	port  int32
	via   string
}

// measureInLab adds the lab's measurement to every judged result.
func measureInLab(ctx context.Context, st *state.State, results []assert.Result, o lab.ProbeOptions) error {
	namespaces := map[probeKey]map[string]bool{}
	plans := make([]*probeKey, len(results))
	for i, r := range results {
		if r.Check == nil {
			continue
		}
		if r.Assertion.Protocol == corev1.ProtocolSCTP {
			assert.Measure(&results[i], assert.Measurement{Reason: "SCTP cannot be probed here: this kernel has no SCTP sockets"})
			continue
		}
		k := probeKey{proto: r.Assertion.Protocol, port: r.Assertion.Port, via: lab.ViaPod}
		if r.Check.Service != nil {
			k.via = lab.ViaService
		}
		if why := unprobeable(r.Check); why != "" {
			assert.Measure(&results[i], assert.Measurement{Reason: why})
			continue
		}
		plans[i] = &k
		if namespaces[k] == nil {
			namespaces[k] = map[string]bool{}
		}
		for _, c := range r.Check.Connections {
			namespaces[k][namespaceOf(c.From)] = true
			namespaces[k][namespaceOf(c.To)] = true
		}
	}
	keys := make([]probeKey, 0, len(namespaces))
	for k := range namespaces {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.proto < b.proto || a.proto == b.proto && (a.port < b.port || a.port == b.port && a.via < b.via)
	})
	probes := map[probeKey]*lab.ProbeResult{}
	for _, k := range keys {
		po := o
		po.Protocol, po.Port, po.Via = k.proto, k.port, k.via
		for n := range namespaces[k] {
			po.Namespaces = append(po.Namespaces, n)
		}
		sort.Strings(po.Namespaces)
		res, err := lab.Probe(ctx, st, po)
		if err != nil {
			return fail(exitNo, "error: probing %s/%d via %s: %v", k.proto, k.port, k.via, err)
		}
		probes[k] = res
	}
	for i, k := range plans {
		if k != nil {
			assert.Measure(&results[i], fromProbe(results[i].Check, probes[*k]))
		}
	}
	return nil
}

// unprobeable says why the lab cannot measure a check's connections: the
// probe dials from pods to pods.
func unprobeable(r *analysis.CheckResult) string {
	for _, c := range r.Connections {
		for _, end := range []string{c.From, c.To} {
			if !strings.Contains(end, "/") || strings.HasPrefix(end, "node/") {
				return fmt.Sprintf("the lab probes connections between pods; %s is not a pod", end)
			}
		}
	}
	return ""
}

func namespaceOf(pod string) string {
	ns, _, _ := strings.Cut(pod, "/")
	return ns
}

// fromProbe reads a check's connections out of a probe's matrix. A pair
// the probe did not measure makes the whole assertion unmeasured.
func fromProbe(r *analysis.CheckResult, p *lab.ProbeResult) assert.Measurement {
	index := map[string]int{}
	for i, pod := range p.Pods {
		index[pod] = i
	}
	unmeasured := map[[2]string]string{}
	for _, u := range p.NotMeasured {
		unmeasured[[2]string{u.From, u.To}] = u.Reason
	}
	m := assert.Measurement{Measured: true}
	allowed := 0
	for _, c := range r.Connections {
		i, okI := index[c.From]
		j, okJ := index[c.To]
		if !okI || !okJ {
			return assert.Measurement{Reason: fmt.Sprintf("%s -> %s: the lab runs no such pod with an address", c.From, c.To)}
		}
		if why, ok := unmeasured[[2]string{c.From, c.To}]; ok {
			return assert.Measurement{Reason: fmt.Sprintf("%s -> %s: %s", c.From, c.To, why)}
		}
		if r.Service != nil {
			// The probe dials a pod through a service of its own that serves
			// the port; it must be the service asserted.
			_, name, _ := strings.Cut(r.Service.Service, "/")
			if !strings.HasPrefix(p.Targets[j], "service "+name+" ") {
				return assert.Measurement{Reason: fmt.Sprintf("%s -> %s: the lab dialled %s, not service %s", c.From, c.To, p.Targets[j], r.Service.Service)}
			}
		}
		ok := p.Matrix.Matrix[i][j]
		if ok {
			allowed++
		}
		m.Connections = append(m.Connections, assert.MeasuredConnection{From: c.From, To: c.To, Target: p.Targets[j], Allowed: ok, Expected: p.Expected[i][j]})
	}
	m.Verdict = assert.Verdict(allowed, len(r.Connections))
	return m
}
