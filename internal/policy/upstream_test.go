package policy_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/netpolsuite"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// coreDriver runs the upstream e2e cases against the policy core alone:
// every action goes through the API server's defaulting and validation, then
// an incremental Engine update, and every probe is the engine's prediction
// for a connection to the pod's service (judged after DNAT, as upstream's
// probes through services are).
type coreDriver struct {
	t      *testing.T
	family int
	e      *policy.Engine
	pods   map[string]*corev1.Pod // by "ns/name"
	ns     map[string]*corev1.Namespace
}

func (d *coreDriver) Setup(_ context.Context, m *netpolsuite.Model) (netpolsuite.Env, error) {
	d.e = policy.NewEngine()
	d.pods = map[string]*corev1.Pod{}
	d.ns = map[string]*corev1.Namespace{}
	for _, n := range m.Namespaces() {
		if errs := validation.ValidateNamespace(n); len(errs) > 0 {
			return nil, errs.ToAggregate()
		}
		d.ns[n.Name] = n
		d.e.UpsertNamespace(n)
	}
	for i, p := range m.Pods() {
		p = p.DeepCopy()
		ip := netip.AddrFrom4([4]byte{10, 244, byte(i / 250), byte(i%250 + 2)})
		if d.family == 6 {
			ip = netip.MustParseAddr(fmt.Sprintf("fd00:10:244::%x", i+2))
		}
		p.Status.PodIP = ip.String()
		p.Status.PodIPs = []corev1.PodIP{{IP: ip.String()}}
		d.pods[p.Namespace+"/"+p.Name] = p
		d.e.UpsertPod(p)
	}
	for _, s := range m.Services() {
		if errs := validation.ValidateService(s); len(errs) > 0 {
			return nil, errs.ToAggregate()
		}
		d.e.UpsertService(s)
	}
	return m.Env(func(ns, pod string) []string {
		if p := d.pods[ns+"/"+pod]; p != nil {
			return []string{p.Status.PodIP}
		}
		return nil
	}), nil
}

func (d *coreDriver) Do(_ context.Context, op netpolsuite.Op) error {
	switch op.Kind {
	case netpolsuite.CreatePolicy, netpolsuite.UpdatePolicy:
		np := op.Policy.DeepCopy()
		validation.DefaultNetworkPolicy(np)
		if errs := validation.ValidateNetworkPolicy(np); len(errs) > 0 {
			return fmt.Errorf("upstream policy rejected: %v", errs.ToAggregate())
		}
		d.e.UpsertPolicy(np)
	case netpolsuite.DeleteAllPolicies:
		for _, k := range d.e.Policies() {
			if k.Namespace == op.Namespace {
				d.e.DeletePolicy(k.Namespace, k.Name)
			}
		}
	case netpolsuite.AddNamespaceLabels, netpolsuite.RemoveNamespaceLabels:
		n := d.ns[op.Namespace].DeepCopy()
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		for k, v := range op.Labels {
			n.Labels[k] = v
		}
		for _, k := range op.Keys {
			delete(n.Labels, k)
		}
		d.ns[op.Namespace] = n
		d.e.UpsertNamespace(n)
	case netpolsuite.AddPodLabels, netpolsuite.SetPodLabels:
		p := d.pods[op.Namespace+"/"+op.Name].DeepCopy()
		if op.Kind == netpolsuite.SetPodLabels || p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for k, v := range op.Labels {
			p.Labels[k] = v
		}
		d.pods[op.Namespace+"/"+op.Name] = p
		d.e.UpsertPod(p)
	default:
		return fmt.Errorf("unsupported action %v", op)
	}
	return nil
}

func (d *coreDriver) Observe(_ context.Context, p netpolsuite.Probe) (func(from, to string) bool, error) {
	got := map[[2]string]bool{}
	for _, from := range p.Peers {
		for _, to := range p.Peers {
			dst := d.pods[to]
			svc := policy.PodKey{Namespace: dst.Namespace, Name: netpolsuite.ServiceName(dst.Namespace, dst.Name)}
			st, err := d.e.ResolveService(svc, p.Port, p.Protocol)
			if err != nil {
				return nil, err
			}
			if len(st.Backends) != 1 {
				return nil, fmt.Errorf("service %s has %d backends, want 1", svc, len(st.Backends))
			}
			src := policy.ParseKey(from, "")
			b := st.Backends[0]
			got[[2]string{from, to}] = d.e.Allowed(policy.Conn{
				Src: policy.Endpoint{Pod: &src}, Dst: policy.Endpoint{Pod: &b.Pod},
				Protocol: p.Protocol, Port: b.Port,
			})
		}
	}
	return func(from, to string) bool { return got[[2]string{from, to}] }, nil
}

func (d *coreDriver) Teardown(context.Context) error { return nil }

// TestUpstreamSuite runs every connectivity test of upstream's
// test/e2e/network/netpol (v1.37.2), every step and truth table, against
// the core, on IPv4 and IPv6. SCTP is a policy matter here (no sockets are
// opened), so the SCTP cases run too.
func TestUpstreamSuite(t *testing.T) {
	cases := netpolsuite.Cases()
	if len(cases) != 49 {
		t.Fatalf("expected the 49 upstream cases, got %d", len(cases))
	}
	for _, family := range []int{4, 6} {
		for _, c := range cases {
			name := fmt.Sprintf("ipv%d/%s", family, strings.ReplaceAll(c.FullName(), " ", "_"))
			t.Run(name, func(t *testing.T) {
				d := &coreDriver{t: t, family: family}
				err := netpolsuite.Run(context.Background(), d, c, netpolsuite.WithReadiness(1, 0), netpolsuite.WithAttempts(1))
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
