package proxy

import (
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/policy"
)

func TestSliceEndpoints(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	yes, no := true, false
	port := func(name string, p int32) discoveryv1.EndpointPort {
		return discoveryv1.EndpointPort{Name: &name, Port: &p}
	}
	ep := func(ip, pod string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: pod}}
	}
	slice := func(ns, svcName string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svcName + "-x",
			Labels: map[string]string{discoveryv1.LabelServiceName: svcName}}, Ports: ports, Endpoints: eps}
	}
	a := Endpoint{Pod: policy.PodKey{Namespace: "ns", Name: "a"}, IP: netip.MustParseAddr("10.0.0.1"), Port: 8080}
	b := Endpoint{Pod: policy.PodKey{Namespace: "ns", Name: "b"}, IP: netip.MustParseAddr("10.0.0.2"), Port: 8080}
	for _, tc := range []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		want   map[string][]Endpoint
	}{
		{"ready unset counts as ready", []*discoveryv1.EndpointSlice{slice("ns", "web", []discoveryv1.EndpointPort{port("http", 8080)}, ep("10.0.0.1", "a", nil))},
			map[string][]Endpoint{"http": {a}}},
		{"not ready is left out", []*discoveryv1.EndpointSlice{slice("ns", "web", []discoveryv1.EndpointPort{port("http", 8080)}, ep("10.0.0.1", "a", &yes), ep("10.0.0.2", "b", &no))},
			map[string][]Endpoint{"http": {a}}},
		{"two slices add up", []*discoveryv1.EndpointSlice{
			slice("ns", "web", []discoveryv1.EndpointPort{port("", 8080)}, ep("10.0.0.1", "a", nil)),
			slice("ns", "web", []discoveryv1.EndpointPort{port("", 8080)}, ep("10.0.0.2", "b", nil))},
			map[string][]Endpoint{"": {a, b}}},
		{"another service's and another namespace's slices are not this one's", []*discoveryv1.EndpointSlice{
			slice("ns", "db", []discoveryv1.EndpointPort{port("", 8080)}, ep("10.0.0.1", "a", nil)),
			slice("other", "web", []discoveryv1.EndpointPort{port("", 8080)}, ep("10.0.0.2", "b", nil))},
			map[string][]Endpoint{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SliceEndpoints(svc, tc.slices); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
