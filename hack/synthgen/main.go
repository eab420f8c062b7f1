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
	seed := flag.Uint64("seed", 1, "generator seed")
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
	for _, o := range c.Pods {
		write("v1", "Pod", o)
	}
	for _, o := range c.Services {
		write("v1", "Service", o)
	}
	for _, o := range c.Policies {
		write("networking.k8s.io/v1", "NetworkPolicy", o)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func schemaGVK(apiVersion, kind string) schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}
