package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/cnpsuite"
	"github.com/palisade-net/palisade/internal/cnpsuite/client"
	"github.com/palisade-net/palisade/internal/cnpsuite/kubernetes"
)

// cnpLabDriver runs network-policy-api's conformance tests on the lab
// through the CLI, as the suite drives a cluster through the API server:
// get/apply/label/delete for the objects, `palisade exec` of agnhost
// connect in the client container for every expectation.
type cnpLabDriver struct {
	l       *labT
	mu      sync.Mutex
	pokes   []kubernetes.Poke
	skipped []kubernetes.Poke
}

func (d *cnpLabDriver) Poked(p kubernetes.Poke) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pokes = append(d.pokes, p)
}

// sctpSkip is the kernel's answer to socket(AF_INET, SOCK_STREAM,
// IPPROTO_SCTP) on this machine (no sctp module).
const sctpSkip = "SCTP: this kernel has no SCTP sockets (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP): protocol not supported); the SCTP rules are installed, and these expectations hold on the core (cnpsuite.TestOffline)"

func (d *cnpLabDriver) SkipPoke(p kubernetes.Poke) string {
	if p.Protocol != "sctp" {
		return ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.skipped = append(d.skipped, p)
	return sctpSkip
}

func resourceOf(obj client.Object) (string, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return "pod", nil
	case *corev1.Namespace:
		return "namespace", nil
	case *networkingv1.NetworkPolicy:
		return "networkpolicy", nil
	case *cnpv1beta1.ClusterNetworkPolicy:
		return "clusternetworkpolicy", nil
	case *unstructured.Unstructured:
		return strings.ToLower(o.GetKind()), nil
	}
	return "", fmt.Errorf("lab driver: no resource for %T", obj)
}

func nsArgs(ns string) []string {
	if ns == "" {
		return nil
	}
	return []string{"-n", ns}
}

func (d *cnpLabDriver) Get(_ context.Context, k client.ObjectKey, obj client.Object) error {
	res, err := resourceOf(obj)
	if err != nil {
		return err
	}
	out, errs, code := d.l.run(append([]string{"get", res, k.Name, "-o", "json"}, nsArgs(k.Namespace)...)...)
	if code != 0 {
		if strings.Contains(errs, "NotFound") || strings.Contains(errs, "not found") {
			return apierrors.NewNotFound(schema.GroupResource{Resource: res}, k.Name)
		}
		return fmt.Errorf("get %s %s: %s", res, k.Name, errs)
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		u.Object = nil
		return json.Unmarshal([]byte(out), &u.Object)
	}
	return json.Unmarshal([]byte(out), obj)
}

func (d *cnpLabDriver) applyJSON(obj client.Object) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if out, errs, code := d.l.runIn(string(b), "apply", "-f", "-"); code != 0 {
		return fmt.Errorf("apply: %s%s", out, errs)
	}
	return nil
}

func (d *cnpLabDriver) Create(_ context.Context, obj client.Object) error { return d.applyJSON(obj) }
func (d *cnpLabDriver) Update(_ context.Context, obj client.Object) error { return d.applyJSON(obj) }

// Patch: labels of pods and namespaces with `label` (what the tests edit
// there), a ClusterNetworkPolicy whole with `apply`.
func (d *cnpLabDriver) Patch(_ context.Context, obj client.Object, p client.Patch) error {
	switch o := obj.(type) {
	case *corev1.Pod, *corev1.Namespace:
		res, _ := resourceOf(obj)
		args := append([]string{"label", res, obj.GetName(), "--overwrite"}, nsArgs(obj.GetNamespace())...)
		for k, v := range obj.GetLabels() {
			args = append(args, k+"="+v)
		}
		for k := range p.From().GetLabels() {
			if _, keep := obj.GetLabels()[k]; !keep {
				args = append(args, k+"-")
			}
		}
		if out, errs, code := d.l.run(args...); code != 0 {
			return fmt.Errorf("%v: %s%s", args, out, errs)
		}
		return nil
	case *cnpv1beta1.ClusterNetworkPolicy:
		c := o.DeepCopy()
		c.APIVersion, c.Kind = cnpv1beta1.GroupVersion.String(), "ClusterNetworkPolicy"
		c.ResourceVersion = ""
		return d.applyJSON(c)
	}
	return fmt.Errorf("lab driver: cannot patch a %T", obj)
}

func (d *cnpLabDriver) Delete(_ context.Context, obj client.Object) error {
	res, err := resourceOf(obj)
	if err != nil {
		return err
	}
	_, errs, code := d.l.run(append([]string{"delete", res, obj.GetName()}, nsArgs(obj.GetNamespace())...)...)
	if code != 0 {
		if strings.Contains(errs, "NotFound") || strings.Contains(errs, "not found") {
			return apierrors.NewNotFound(schema.GroupResource{Resource: res}, obj.GetName())
		}
		return fmt.Errorf("delete %s %s: %s", res, obj.GetName(), errs)
	}
	return nil
}

func (d *cnpLabDriver) RunCommandFromPod(ns, pod, container string, cmd []string) (string, string, error) {
	out, errs, code := d.l.run(append([]string{"exec", "-n", ns, pod, "-c", container, "--"}, cmd...)...)
	if code != 0 {
		return out, errs, fmt.Errorf("command terminated with exit code %d", code)
	}
	return out, errs, nil
}

// TestCNPConformanceWithPackets runs network-policy-api v0.3.0's
// ClusterNetworkPolicy conformance tests (internal/cnpsuite: upstream's own
// test code, manifests and mutations) on the lab, with real connections
// from the client containers (agnhost connect, as upstream). SCTP
// expectations skip with the kernel's reason. Long (about 12 minutes on a
// loaded 2-core machine): a denied expectation waits out agnhost's timeout
// twice, as upstream's PokeServer does, and every expectation is a process
// (`palisade exec`); it runs in parallel with the other long lab tests.
func TestCNPConformanceWithPackets(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs the ClusterNetworkPolicy conformance suite with real packets")
	}
	t.Parallel()
	nodes := "3"
	if n := os.Getenv("PALISADE_CNP_SUITE_NODES"); n != "" {
		nodes = n
	}
	l := newLab(t, "--nodes", nodes)
	d := &cnpLabDriver{l: l}
	start := time.Now()
	timeouts := kubernetes.DefaultTimeoutConfig()
	// Connections here take microseconds; a drop is what times out (an
	// expected connection that times out on a loaded machine is retried
	// by PokeServer's polling, as upstream's).
	timeouts.RequestTimeout = 500 * time.Millisecond
	timeouts.PokeTimeout = 10 * time.Second
	cnpsuite.Run(t, d, timeouts, func(t *testing.T, namespaces []string) {
		for _, ns := range namespaces {
			if _, errs, code := l.run("wait", "--for=condition=Ready", "pods", "--all", "-n", ns, "--timeout=60s"); code != 0 {
				pods, _, _ := l.run("get", "pods", "-A", "-o", "wide")
				desc, _, _ := l.run("describe", "pods", "-n", ns)
				t.Fatalf("pods in %s not ready: %s\n%s\n%s", ns, errs, pods, desc)
			}
		}
		if out, _, _ := l.run("get", "pods", "-A", "-o", "wide"); out != "" {
			t.Logf("pods:\n%s", out)
		}
	})
	byProto := map[string]int{}
	for _, p := range d.pokes {
		if !slices.Contains(d.skipped, p) {
			byProto[p.Protocol]++
		}
	}
	t.Logf("%d expectations, %d measured with packets (%v), %d SCTP skipped; %.0fs", len(d.pokes), len(d.pokes)-len(d.skipped), byProto, len(d.skipped), time.Since(start).Seconds())
}
