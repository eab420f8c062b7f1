package lab

import (
	"fmt"
	"strings"
)

// Kind describes a resource the lab serves, with the names kubectl users
// type and read.
type Kind struct {
	Kind       string
	Resource   string // plural, as in "deployments"
	Group      string // "" for core
	Short      []string
	Namespaced bool
}

// Qualified is "deployment.apps", the prefix kubectl prints in messages.
func (k Kind) Qualified() string {
	s := strings.ToLower(k.Kind)
	if k.Group != "" {
		s += "." + k.Group
	}
	return s
}

// Kinds lists what the lab stores, in the order kubectl prints `get all`.
var Kinds = []Kind{
	{Kind: "Pod", Resource: "pods", Short: []string{"po", "pod"}, Namespaced: true},
	{Kind: "Service", Resource: "services", Short: []string{"svc", "service"}, Namespaced: true},
	{Kind: "DaemonSet", Resource: "daemonsets", Group: "apps", Short: []string{"ds", "daemonset"}, Namespaced: true},
	{Kind: "Deployment", Resource: "deployments", Group: "apps", Short: []string{"deploy", "deployment"}, Namespaced: true},
	{Kind: "ReplicaSet", Resource: "replicasets", Group: "apps", Short: []string{"rs", "replicaset"}, Namespaced: true},
	{Kind: "StatefulSet", Resource: "statefulsets", Group: "apps", Short: []string{"sts", "statefulset"}, Namespaced: true},
	{Kind: "Job", Resource: "jobs", Group: "batch", Short: []string{"job"}, Namespaced: true},
	{Kind: "CronJob", Resource: "cronjobs", Group: "batch", Short: []string{"cj", "cronjob"}, Namespaced: true},
	{Kind: "NetworkPolicy", Resource: "networkpolicies", Group: "networking.k8s.io", Short: []string{"netpol", "networkpolicy"}, Namespaced: true},
	{Kind: "Namespace", Resource: "namespaces", Short: []string{"ns", "namespace"}},
	{Kind: "Event", Resource: "events", Short: []string{"ev", "event"}, Namespaced: true},
}

// LookupKind resolves what a user typed ("po", "deploy", "networkpolicies",
// "deployment.apps", "Pod").
func LookupKind(s string) (Kind, error) {
	l := strings.ToLower(s)
	for _, k := range Kinds {
		if l == k.Resource || l == strings.ToLower(k.Kind) || l == k.Qualified() || l == k.Resource+"."+k.Group {
			return k, nil
		}
		for _, sh := range k.Short {
			if l == sh {
				return k, nil
			}
		}
	}
	return Kind{}, fmt.Errorf("the server doesn't have a resource type %q", s)
}

// KindOf returns the description of a Kind name.
func KindOf(kind string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return Kind{}, false
}
