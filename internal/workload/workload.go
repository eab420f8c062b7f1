// Package workload computes the pods that Kubernetes' controllers would
// create for a workload object, without a cluster.
//
// Analysis needs pods, but manifests mostly hold Deployments, StatefulSets
// and Jobs; the lab needs the same pods to run. Names, labels and owner
// references follow the upstream controllers (deployment, replicaset,
// statefulset, daemonset, job, cronjob in kubernetes/pkg/controller) so that
// selectors, `get pods` output and DNS names look like a real cluster's. Where
// a real cluster would use randomness (pod name suffixes, UIDs), the values
// are derived from the object and Options.Seed instead, so that the same
// input always gives the same cluster.
package workload

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Options steers what an expansion cannot learn from the object itself.
type Options struct {
	// Nodes are the node names DaemonSet pods spread over, one pod each;
	// nil means one unnamed node (a pod with no spec.nodeName).
	Nodes []string
	// Seed varies the random-looking parts of pod names (the 5-character
	// suffixes), deterministically: the lab passes a new seed to recreate a
	// dead pod under a new name, as a ReplicaSet would.
	Seed string
	// ScheduledTime is the schedule time a CronJob's Job is named after
	// (<cronjob>-<minutes since the epoch>); zero means FixedScheduleTime.
	ScheduledTime time.Time
}

// FixedScheduleTime is the default CronJob schedule time: a fixed instant
// keeps Job and pod names stable from run to run.
var FixedScheduleTime = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// Expansion is what the controllers create for one object.
type Expansion struct {
	// ReplicaSet is the ReplicaSet a Deployment creates (nil otherwise).
	ReplicaSet *appsv1.ReplicaSet
	// Job is the Job a CronJob creates (nil otherwise).
	Job *batchv1.Job
	// Pods are the pods, in controller order (index, ordinal or node).
	Pods []*corev1.Pod
}

// Expand returns the pods a controller would create for obj: a Deployment,
// ReplicaSet, StatefulSet, DaemonSet, Job or CronJob. A Pod comes back as a
// deep copy. The object is validated as far as expansion depends on it, with
// the API server's messages; the error is then a k8s.io/apimachinery
// utilerrors.Aggregate of *field.Error, so that callers can place each one
// with manifest.Object.FieldSource.
func Expand(obj runtime.Object, opts Options) ([]*corev1.Pod, error) {
	e, err := ExpandAll(obj, opts)
	if err != nil {
		return nil, err
	}
	return e.Pods, nil
}

// ExpandAll is Expand that also returns the intermediate objects (the
// Deployment's ReplicaSet, the CronJob's Job), for callers that show them.
func ExpandAll(obj runtime.Object, opts Options) (*Expansion, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &Expansion{Pods: []*corev1.Pod{o.DeepCopy()}}, nil
	case *appsv1.Deployment:
		return expandDeployment(o, opts)
	case *appsv1.ReplicaSet:
		pods, err := expandReplicaSet(o, opts)
		return &Expansion{Pods: pods}, err
	case *appsv1.StatefulSet:
		pods, err := expandStatefulSet(o)
		return &Expansion{Pods: pods}, err
	case *appsv1.DaemonSet:
		pods, err := expandDaemonSet(o, opts)
		return &Expansion{Pods: pods}, err
	case *batchv1.Job:
		pods, err := expandJob(o, opts)
		return &Expansion{Pods: pods}, err
	case *batchv1.CronJob:
		return expandCronJob(o, opts)
	case nil:
		return nil, fmt.Errorf("workload: nil object")
	default:
		return nil, fmt.Errorf("workload: %T is not a workload", obj)
	}
}

var (
	podGVK         = corev1.SchemeGroupVersion.WithKind("Pod")
	deploymentGVK  = appsv1.SchemeGroupVersion.WithKind("Deployment")
	replicaSetGVK  = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	statefulSetGVK = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	daemonSetGVK   = appsv1.SchemeGroupVersion.WithKind("DaemonSet")
	jobGVK         = batchv1.SchemeGroupVersion.WithKind("Job")
	cronJobGVK     = batchv1.SchemeGroupVersion.WithKind("CronJob")
)

// controllerRef is metav1.NewControllerRef with a UID made up when the owner
// has none (it came from a file, not from an API server).
func controllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	ref := metav1.NewControllerRef(owner, gvk)
	if ref.UID == "" {
		ref.UID = uidFor(gvk.Kind, owner.GetNamespace(), owner.GetName())
	}
	return ref
}

// podFromTemplate is upstream's controller.GetPodFromTemplate followed by
// what the API server does with generateName: labels, annotations and
// finalizers copied, the spec deep-copied, one controller reference.
func podFromTemplate(template *corev1.PodTemplateSpec, namespace, name, generateName string, ref *metav1.OwnerReference) *corev1.Pod {
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: podGVK.GroupVersion().String(), Kind: podGVK.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:         name,
			GenerateName: generateName,
			Namespace:    namespace,
			Labels:       copyMap(template.Labels),
			Annotations:  copyMap(template.Annotations),
			Finalizers:   append([]string(nil), template.Finalizers...),
		},
		Spec: *template.Spec.DeepCopy(),
	}
	if ref != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return pod
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// withLabel returns a copy of m with k=v added.
func withLabel(m map[string]string, k, v string) map[string]string {
	c := make(map[string]string, len(m)+1)
	for kk, vv := range m {
		c[kk] = vv
	}
	c[k] = v
	return c
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
