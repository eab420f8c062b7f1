// Command synthgen writes a synthetic cluster (internal/synth) as a
// manifest file, so that whole-process figures (`palisade matrix`, `diff`)
// are measured on the same clusters the benchmarks use:
//
//	go run ./hack/synthgen -pods 1000 -policies 500 > /tmp/s1k.yaml
//	/usr/bin/time -v palisade matrix -f /tmp/s1k.yaml --port 8080 -o json > /dev/null
//
// -seed changes the policies (and, with a new count, the pods), which makes
// the NEW side of a `palisade diff` benchmark.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/synth"
)

func main() {
	var cfg synth.Config
	flag.IntVar(&cfg.Namespaces, "namespaces", 10, "namespaces")
	flag.IntVar(&cfg.Pods, "pods", 1000, "pods in total")
	flag.IntVar(&cfg.Policies, "policies", 500, "NetworkPolicies in total")
	flag.IntVar(&cfg.AppsPerNamespace, "apps", 5, "app labels per namespace")
	flag.IntVar(&cfg.ClusterPolicies, "cnps", 0, "ClusterNetworkPolicies (policy.networking.k8s.io/v1beta1) in total, Admin and Baseline tiers")
	seed := flag.Uint64("seed", 1, "generator seed")
	deployments := flag.Bool("deployments", false, "write the pods as Deployments (one per namespace, app and monitoring label, replicas = its pods), as a cluster runs them")
	flag.Parse()
	cfg.Seed = *seed
	c := synth.Generate(cfg)
	w := bufio.NewWriter(os.Stdout)
	write := func(apiVersion, kind string, obj runtime.Object) {
		obj.GetObjectKind().SetGroupVersionKind(schemaGVK(apiVersion, kind))
		b, err := sigsyaml.Marshal(obj)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		w.WriteString("---\n")
		w.Write(b)
	}
	for _, o := range c.Namespaces {
		write("v1", "Namespace", o)
	}
	if *deployments {
		for _, d := range asDeployments(c.Pods) {
			write("apps/v1", "Deployment", d)
		}
	} else {
		for _, o := range c.Pods {
			write("v1", "Pod", o)
		}
	}
	for _, o := range c.Services {
		write("v1", "Service", o)
	}
	for _, o := range c.Policies {
		write("networking.k8s.io/v1", "NetworkPolicy", o)
	}
	for _, o := range c.ClusterPolicies {
		write("policy.networking.k8s.io/v1beta1", "ClusterNetworkPolicy", o)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func schemaGVK(apiVersion, kind string) schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}

// asDeployments folds pods alike in namespace and labels into Deployments;
// the cluster then names and addresses their replicas as a cluster would.
func asDeployments(pods []*corev1.Pod) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	byKey := map[string]*appsv1.Deployment{}
	for _, p := range pods {
		name := p.Labels["app"]
		if p.Labels["monitoring"] == "true" {
			name += "-mon"
		}
		key := p.Namespace + "/" + name
		d := byKey[key]
		if d == nil {
			tmpl := p.Spec.DeepCopy()
			tmpl.Containers[0].Ports[1].ContainerPort = 9090
			d = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: name},
				Spec: appsv1.DeploymentSpec{Replicas: new(int32),
					Selector: &metav1.LabelSelector{MatchLabels: p.Labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels}, Spec: *tmpl}}}
			byKey[key] = d
			out = append(out, d)
		}
		*d.Spec.Replicas++
	}
	return out
}
