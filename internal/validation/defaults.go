package validation

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Default applies, in place, the defaulting the API server applies to a
// request body before validating it, for create and update alike, so that a
// stored object and the same manifest sent again compare equal. It covers
// the fields Palisade's semantics and output depend on: protocols of ports,
// a service's type and target ports, policyTypes, the namespace name label.
// Objects of other kinds are left alone.
func Default(obj runtime.Object) {
	switch o := obj.(type) {
	case *networkingv1.NetworkPolicy:
		DefaultNetworkPolicy(o)
	case *corev1.Namespace:
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels[corev1.LabelMetadataName] = o.Name
	case *corev1.Service:
		defaultService(o)
	case *corev1.Pod:
		DefaultPodSpec(&o.Spec)
	case *appsv1.Deployment:
		DefaultPodSpec(&o.Spec.Template.Spec)
	case *appsv1.ReplicaSet:
		DefaultPodSpec(&o.Spec.Template.Spec)
	case *appsv1.StatefulSet:
		DefaultPodSpec(&o.Spec.Template.Spec)
	case *appsv1.DaemonSet:
		DefaultPodSpec(&o.Spec.Template.Spec)
	case *batchv1.Job:
		DefaultPodSpec(&o.Spec.Template.Spec)
	case *batchv1.CronJob:
		DefaultPodSpec(&o.Spec.JobTemplate.Spec.Template.Spec)
	}
}

// DefaultPodSpec defaults container ports as v1 SetDefaults_ContainerPort
// and SetDefaults_PodSpec do: protocol TCP, and on the host network a host
// port equal to the container port.
func DefaultPodSpec(spec *corev1.PodSpec) {
	defaultContainerPorts(spec.Containers, spec.HostNetwork)
	defaultContainerPorts(spec.InitContainers, spec.HostNetwork)
}

// ProtocolOrTCP is the API server's default for every protocol field of
// pods, services and policies: an empty protocol is TCP. It is the one place
// that rule lives; code reading a port that may not be defaulted yet asks it.
func ProtocolOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// PolicyPortProtocol is ProtocolOrTCP for a NetworkPolicyPort, whose
// protocol is a pointer: nil is TCP.
func PolicyPortProtocol(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return corev1.ProtocolTCP
	}
	return ProtocolOrTCP(*p)
}

// DefaultServicePort is v1 SetDefaults_ServicePort: protocol TCP, and a
// target port equal to the port when none is given.
func DefaultServicePort(sp *corev1.ServicePort) {
	sp.Protocol = ProtocolOrTCP(sp.Protocol)
	if sp.TargetPort == intstr.FromInt32(0) || sp.TargetPort == intstr.FromString("") {
		sp.TargetPort = intstr.FromInt32(sp.Port)
	}
}

// podUpdateForbidden is the API server's text for an update of a pod's spec
// beyond the fields that may change in place.
const podUpdateForbidden = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

// ValidatePodUpdate is the part of upstream ValidatePodUpdate that keeps a
// running pod's spec fixed: besides labels and annotations only the images,
// activeDeadlineSeconds, tolerations and terminationGracePeriodSeconds may
// change. Both pods are defaulted; spec.nodeName of old counts as set by the
// scheduler when the update leaves it empty.
func ValidatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	mungedSpec := pod.Spec.DeepCopy()
	if mungedSpec.NodeName == "" {
		mungedSpec.NodeName = old.Spec.NodeName
	}
	// Take the mutable fields from old: what remains must be equal.
	images := func(dst, src []corev1.Container) {
		for i := range dst {
			if i < len(src) {
				dst[i].Image = src[i].Image
			}
		}
	}
	images(mungedSpec.Containers, old.Spec.Containers)
	images(mungedSpec.InitContainers, old.Spec.InitContainers)
	mungedSpec.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	mungedSpec.Tolerations = old.Spec.Tolerations
	mungedSpec.TerminationGracePeriodSeconds = old.Spec.TerminationGracePeriodSeconds
	if apiequality.Semantic.DeepEqual(*mungedSpec, old.Spec) {
		return nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("spec"), podUpdateForbidden+"\n"+diff.Diff(old.Spec, *mungedSpec))}
}
