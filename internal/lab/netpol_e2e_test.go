package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/palisade-net/palisade/internal/netpolsuite"
)

// labDriver runs the upstream NetworkPolicy e2e cases on the lab through
// the CLI: objects are applied, policies and labels changed, and every
// expectation is measured by `palisade probe` with real connections.
type labDriver struct {
	l          *labT
	namespaces []string
}

func (d *labDriver) applyObjects(objs []runtime.Object) error {
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if out, errs, code := d.l.runIn(string(b), "apply", "-f", "-"); code != 0 {
		return fmt.Errorf("apply: %s%s", out, errs)
	}
	return nil
}

func (d *labDriver) Setup(_ context.Context, m *netpolsuite.Model) (netpolsuite.Env, error) {
	d.namespaces = m.NamespaceNames()
	var objs []runtime.Object
	for _, n := range m.Namespaces() {
		objs = append(objs, n)
	}
	for _, p := range m.Pods() {
		objs = append(objs, p)
	}
	for _, s := range m.Services() {
		objs = append(objs, s)
	}
	if err := d.applyObjects(objs); err != nil {
		return nil, err
	}
	for _, ns := range d.namespaces {
		if _, errs, code := d.l.run("wait", "--for=condition=Ready", "pods", "--all", "-n", ns, "--timeout=30s"); code != 0 && !strings.Contains(errs, "no matching resources found") {
			return nil, fmt.Errorf("pods in %s not ready: %s", ns, errs)
		}
	}
	ips := map[string][]string{}
	for _, ns := range d.namespaces {
		out, _, _ := d.l.run("get", "pods", "-n", ns, "-o", "json")
		var list struct {
			Items []corev1.Pod `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return nil, err
		}
		for _, p := range list.Items {
			for _, ip := range p.Status.PodIPs {
				ips[p.Namespace+"/"+p.Name] = append(ips[p.Namespace+"/"+p.Name], ip.IP)
			}
		}
	}
	return m.Env(func(ns, pod string) []string { return ips[ns+"/"+pod] }), nil
}

func (d *labDriver) Do(_ context.Context, op netpolsuite.Op) error {
	var args []string
	switch op.Kind {
	case netpolsuite.CreatePolicy, netpolsuite.UpdatePolicy:
		op.Policy.APIVersion, op.Policy.Kind = "networking.k8s.io/v1", "NetworkPolicy"
		return d.applyObjects([]runtime.Object{op.Policy})
	case netpolsuite.DeleteAllPolicies:
		args = []string{"delete", "netpol", "--all", "-n", op.Namespace}
	case netpolsuite.AddNamespaceLabels, netpolsuite.RemoveNamespaceLabels:
		args = []string{"label", "ns", op.Namespace, "--overwrite"}
		for k, v := range op.Labels {
			args = append(args, k+"="+v)
		}
		for _, k := range op.Keys {
			args = append(args, k+"-")
		}
	case netpolsuite.AddPodLabels, netpolsuite.SetPodLabels:
		args = []string{"label", "pod", op.Name, "-n", op.Namespace, "--overwrite"}
		for k, v := range op.Labels {
			args = append(args, k+"="+v)
		}
		if op.Kind == netpolsuite.SetPodLabels {
			out, _, _ := d.l.run("get", "pod", op.Name, "-n", op.Namespace, "-o", "jsonpath={.metadata.labels}")
			var cur map[string]string
			_ = json.Unmarshal([]byte(out), &cur)
			for k := range cur {
				if _, keep := op.Labels[k]; !keep {
					args = append(args, k+"-")
				}
			}
		}
	default:
		return fmt.Errorf("unsupported action %v", op)
	}
	if out, errs, code := d.l.run(args...); code != 0 {
		return fmt.Errorf("%v: %s%s", args, out, errs)
	}
	return nil
}

func (d *labDriver) Observe(_ context.Context, p netpolsuite.Probe) (func(from, to string) bool, error) {
	args := []string{"probe", "--port", fmt.Sprint(p.Port), "--protocol", string(p.Protocol), "-o", "json", "--timeout", "1s", "--attempts", "3"}
	if p.Target == netpolsuite.ProbePod {
		args = append(args, "--via", "pod")
	} else {
		// Upstream dials each pod's own service; a pair that cannot go that
		// way must fail the case, not be measured on the pod's address.
		args = append(args, "--via", "service")
	}
	for _, ns := range d.namespaces {
		args = append(args, "-n", ns)
	}
	out, errs, code := d.l.run(args...)
	if code != 0 && code != 1 {
		return nil, fmt.Errorf("probe: %s", errs)
	}
	var res struct {
		Pods       []string
		Matrix     [][]bool
		Mismatches []struct {
			From, To           string
			Expected, Measured bool
		}
		NotMeasured []struct{ From, To, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return nil, fmt.Errorf("probe output: %v\n%s", err, out)
	}
	if len(res.NotMeasured) > 0 {
		return nil, fmt.Errorf("probe could not measure %d pairs: %+v", len(res.NotMeasured), res.NotMeasured[0])
	}
	// The engine and the packets must agree on every pair, whatever the
	// upstream table says.
	if len(res.Mismatches) > 0 {
		// Leave the evidence in the failure: the node's rules and the pods.
		rules, _ := exec.Command("sh", "-c", "for n in $(ip netns list | awk '{print $1}' | grep -- '-node'); do echo \"== $n\"; ip netns exec $n nft list table inet palisade-policy; done").CombinedOutput()
		pods, _, _ := d.l.run("get", "pods", "-A", "-o", "wide")
		return nil, fmt.Errorf("packets disagree with the engine: %+v\n%s\n%s", res.Mismatches, pods, rules)
	}
	idx := map[string]int{}
	for i, p := range res.Pods {
		idx[p] = i
	}
	return func(from, to string) bool {
		i, ok1 := idx[from]
		j, ok2 := idx[to]
		return ok1 && ok2 && res.Matrix[i][j]
	}, nil
}

func (d *labDriver) Teardown(context.Context) error {
	if len(d.namespaces) == 0 {
		return nil
	}
	args := append([]string{"delete", "ns"}, d.namespaces...)
	if _, errs, code := d.l.run(args...); code != 0 {
		return fmt.Errorf("delete namespaces: %s", errs)
	}
	return nil
}

// TestUpstreamSuiteWithPackets runs every TCP and UDP connectivity test of
// upstream's NetworkPolicy e2e suite (v1.37.2) on the lab, IPv4 and IPv6,
// step by step, with real connections; the incremental path is exercised
// (policies, labels and deletions change a running lab). SCTP cases skip:
// the kernel here has no SCTP sockets.
func TestUpstreamSuiteWithPackets(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs the upstream suite with real packets")
	}
	// Alongside the other long tests: most of the time goes to waiting for
	// timeouts of denied probes, not to the cores.
	t.Parallel()
	families := []string{"ipv4", "ipv6"}
	if f := os.Getenv("PALISADE_SUITE_FAMILIES"); f != "" {
		families = strings.Split(f, ",")
	}
	// Pods wired by the lab (routed), and by the reference CNI plugins:
	// on a bridge (same-node traffic switched, seen through br_netfilter;
	// IPv4 and IPv6 go through separate sysctls) and point to point
	// (routed as the lab's own wiring is: one family is enough).
	type run struct{ name, cni, family string }
	var runs []run
	modes := map[string][]string{"routed": families, "bridge": families, "ptp": families[:1]}
	order := []string{"routed", "bridge", "ptp"}
	if m := os.Getenv("PALISADE_SUITE_CNI"); m != "" {
		order = strings.Split(m, ",")
	}
	for _, mode := range order {
		fams, ok := modes[mode]
		if !ok || os.Getenv("PALISADE_SUITE_FAMILIES") != "" {
			fams = families
		}
		for _, family := range fams {
			name := family
			if mode != "routed" {
				// The routed runs keep their names (-run .../ipv4).
				name = mode + "-" + family
			}
			runs = append(runs, run{name, mode, family})
		}
	}
	// Every lab at once, and casesAtOnce cases at once in each: the time
	// goes to waiting for denied probes to time out, not to the cores, and
	// go test's -parallel (the number of cores) would queue them. Cases
	// are independent: each has namespaces of its own, and probes measure
	// only those. (t.Run from several goroutines runs subtests side by
	// side without taking -parallel slots.)
	const casesAtOnce = 3
	var labs sync.WaitGroup
	for _, r := range runs {
		labs.Go(func() {
			t.Run(r.name, func(t *testing.T) {
				l := newLab(t, "--ip-family", r.family, "--cni", r.cni)
				slots := make(chan struct{}, casesAtOnce)
				var cases sync.WaitGroup
				for i, c := range netpolsuite.Cases() {
					if slices.Contains(c.Protocols, corev1.ProtocolSCTP) {
						t.Run(c.Name, func(t *testing.T) {
							t.Skip("SCTP: this kernel has no SCTP sockets, so SCTP cannot be probed (its rules are installed and checked offline)")
						})
						continue
					}
					slots <- struct{}{}
					cases.Go(func() {
						defer func() { <-slots }()
						t.Run(c.Name, func(t *testing.T) {
							start := time.Now()
							d := &labDriver{l: l}
							err := netpolsuite.Run(context.Background(), d, c,
								netpolsuite.WithNamespaceNames(func(base string) string { return fmt.Sprintf("%s-%d", base, i) }),
								netpolsuite.WithReadiness(5, 500*time.Millisecond))
							if err != nil {
								t.Fatal(err)
							}
							t.Logf("%.1fs", time.Since(start).Seconds())
						})
					})
				}
				cases.Wait()
			})
		})
	}
	labs.Wait()
}
