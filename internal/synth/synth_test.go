package synth_test

import (
	"reflect"
	"testing"

	"github.com/palisade-net/palisade/internal/synth"
	"github.com/palisade-net/palisade/internal/validation"
)

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	cfg := synth.Config{Namespaces: 5, Pods: 200, Policies: 40, DualStack: true, Seed: 9}
	a, b := synth.Generate(cfg), synth.Generate(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same config must give the same cluster")
	}
	if len(a.Pods) != 200 || len(a.Policies) != 40 || len(a.Namespaces) != 5 || len(a.Services) == 0 {
		t.Fatalf("sizes: %d pods, %d policies, %d namespaces, %d services", len(a.Pods), len(a.Policies), len(a.Namespaces), len(a.Services))
	}
	ips := map[string]bool{}
	for _, p := range a.Pods {
		for _, ip := range p.Status.PodIPs {
			if ips[ip.IP] {
				t.Fatalf("address %s used twice", ip.IP)
			}
			ips[ip.IP] = true
		}
		if len(p.Status.PodIPs) != 2 {
			t.Fatalf("dual stack pod %s has %v", p.Name, p.Status.PodIPs)
		}
	}
	// Every generated policy is one the API server would accept.
	for _, np := range a.Policies {
		validation.DefaultNetworkPolicy(np)
		if errs := validation.ValidateNetworkPolicy(np); len(errs) > 0 {
			t.Errorf("%s/%s: %v", np.Namespace, np.Name, errs)
		}
	}
	for _, s := range a.Services {
		if errs := validation.ValidateService(s); len(errs) > 0 {
			t.Errorf("service %s/%s: %v", s.Namespace, s.Name, errs)
		}
	}
	if c := synth.Generate(synth.Config{Namespaces: 5, Pods: 200, Policies: 40, Seed: 10}); reflect.DeepEqual(c.Pods, a.Pods) {
		t.Error("a different seed should vary the cluster")
	}
}
