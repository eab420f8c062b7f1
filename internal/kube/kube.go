// Package kube is Palisade's Kubernetes API client: client-go's REST client
// over a scheme of only the API groups Palisade reads and writes
// (core/v1, networking.k8s.io/v1, apps/v1, and the
// policy.networking.k8s.io/v1beta1 custom resource ClusterNetworkPolicy).
//
// client-go's typed clients are not used on purpose. Each of them imports
// client-go's global scheme, which registers every API group of Kubernetes,
// and their apply configurations pull in the OpenAPI models; linking them
// made the binary 46 MB, of which the node agent kept some 30 MiB resident
// on every node (the budget for the whole agent is 64 MiB). The
// verbs here are the typed clients' (same requests, same options), for the
// few resources Palisade needs.
package kube

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// Protobuf is the content type Clients speak by default: a list of ten
// thousand pods decodes with a fraction of JSON's garbage.
const Protobuf = "application/vnd.kubernetes.protobuf"

// Clients talks to one API server about the resources Palisade uses.
type Clients struct {
	core, networking, apps rest.Interface
	// policy is policy.networking.k8s.io/v1beta1 (ClusterNetworkPolicy), a
	// custom resource: JSON only, custom resources have no protobuf.
	policy rest.Interface
	params runtime.ParameterCodec
}

// NewScheme is a scheme of the three groups, with the meta/v1 options
// (ListOptions, ...) registered in each so they encode as query parameters.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, networkingv1.AddToScheme, appsv1.AddToScheme, cnpv1beta1.Install} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s, nil
}

// New builds the clients from a rest.Config (kubeconfig or in-cluster). A
// config without a content type gets Protobuf, with JSON accepted too. The
// three groups share one HTTP client, so one connection pool and one rate
// limiter (cfg.QPS, cfg.Burst) serve them all.
func New(cfg *rest.Config) (*Clients, error) {
	s, err := NewScheme()
	if err != nil {
		return nil, err
	}
	base := rest.CopyConfig(cfg)
	if base.ContentType == "" {
		base.ContentType = Protobuf
		base.AcceptContentTypes = Protobuf + ",application/json"
	}
	if base.UserAgent == "" {
		base.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	base.NegotiatedSerializer = serializer.NewCodecFactory(s).WithoutConversion()
	if base.RateLimiter == nil && base.QPS >= 0 {
		// One limiter for the three groups, as one clientset would have,
		// with client-go's defaults (5 a second, bursts of 10).
		qps, burst := base.QPS, base.Burst
		if qps == 0 {
			qps = rest.DefaultQPS
		}
		if burst == 0 {
			burst = rest.DefaultBurst
		}
		base.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(qps, burst)
	}
	httpClient, err := rest.HTTPClientFor(base)
	if err != nil {
		return nil, err
	}
	group := func(gv schema.GroupVersion, path string) (rest.Interface, error) {
		c := rest.CopyConfig(base)
		c.GroupVersion, c.APIPath = &gv, path
		return rest.RESTClientForConfigAndClient(c, httpClient)
	}
	out := &Clients{params: runtime.NewParameterCodec(s)}
	if out.core, err = group(corev1.SchemeGroupVersion, "/api"); err != nil {
		return nil, err
	}
	if out.networking, err = group(networkingv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	if out.apps, err = group(appsv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	pc := rest.CopyConfig(base)
	pc.GroupVersion, pc.APIPath = &schema.GroupVersion{Group: cnpv1beta1.GroupName, Version: "v1beta1"}, "/apis"
	pc.ContentType, pc.AcceptContentTypes = "application/json", "application/json"
	if out.policy, err = rest.RESTClientForConfigAndClient(pc, httpClient); err != nil {
		return nil, err
	}
	return out, nil
}

// Client is one resource, in one namespace ("" for all namespaces, and for
// cluster-scoped resources).
type Client[T, L runtime.Object] struct {
	rest       rest.Interface
	params     runtime.ParameterCodec
	resource   string
	namespace  string
	namespaced bool
	newObj     func() T
	newList    func() L
}

// Pods is the pods of a namespace, with the binding subresource.
type Pods struct {
	Client[*corev1.Pod, *corev1.PodList]
}

// Pods of namespace ns ("" for all).
func (c *Clients) Pods(ns string) Pods {
	return Pods{Client[*corev1.Pod, *corev1.PodList]{c.core, c.params, "pods", ns, true,
		func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} }}}
}

// Namespaces are cluster-scoped.
func (c *Clients) Namespaces() Client[*corev1.Namespace, *corev1.NamespaceList] {
	return Client[*corev1.Namespace, *corev1.NamespaceList]{c.core, c.params, "namespaces", "", false,
		func() *corev1.Namespace { return &corev1.Namespace{} }, func() *corev1.NamespaceList { return &corev1.NamespaceList{} }}
}

// Nodes are cluster-scoped.
func (c *Clients) Nodes() Client[*corev1.Node, *corev1.NodeList] {
	return Client[*corev1.Node, *corev1.NodeList]{c.core, c.params, "nodes", "", false,
		func() *corev1.Node { return &corev1.Node{} }, func() *corev1.NodeList { return &corev1.NodeList{} }}
}

// Services of namespace ns ("" for all).
func (c *Clients) Services(ns string) Client[*corev1.Service, *corev1.ServiceList] {
	return Client[*corev1.Service, *corev1.ServiceList]{c.core, c.params, "services", ns, true,
		func() *corev1.Service { return &corev1.Service{} }, func() *corev1.ServiceList { return &corev1.ServiceList{} }}
}

// NetworkPolicies of namespace ns ("" for all).
func (c *Clients) NetworkPolicies(ns string) Client[*networkingv1.NetworkPolicy, *networkingv1.NetworkPolicyList] {
	return Client[*networkingv1.NetworkPolicy, *networkingv1.NetworkPolicyList]{c.networking, c.params, "networkpolicies", ns, true,
		func() *networkingv1.NetworkPolicy { return &networkingv1.NetworkPolicy{} },
		func() *networkingv1.NetworkPolicyList { return &networkingv1.NetworkPolicyList{} }}
}

// ClusterNetworkPolicies are cluster-scoped. The resource exists only where
// the CRD is installed: see ClusterNetworkPoliciesServed.
func (c *Clients) ClusterNetworkPolicies() Client[*cnpv1beta1.ClusterNetworkPolicy, *cnpv1beta1.ClusterNetworkPolicyList] {
	return Client[*cnpv1beta1.ClusterNetworkPolicy, *cnpv1beta1.ClusterNetworkPolicyList]{c.policy, c.params, "clusternetworkpolicies", "", false,
		func() *cnpv1beta1.ClusterNetworkPolicy { return &cnpv1beta1.ClusterNetworkPolicy{} },
		func() *cnpv1beta1.ClusterNetworkPolicyList { return &cnpv1beta1.ClusterNetworkPolicyList{} }}
}

// ClusterNetworkPoliciesServed asks the API server whether it serves
// clusternetworkpolicies (v1beta1): false, with no error, when the CRD is
// not installed.
func (c *Clients) ClusterNetworkPoliciesServed(ctx context.Context) (bool, error) {
	_, err := c.ClusterNetworkPolicies().List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, err
}

// Deployments of namespace ns ("" for all).
func (c *Clients) Deployments(ns string) Client[*appsv1.Deployment, *appsv1.DeploymentList] {
	return Client[*appsv1.Deployment, *appsv1.DeploymentList]{c.apps, c.params, "deployments", ns, true,
		func() *appsv1.Deployment { return &appsv1.Deployment{} }, func() *appsv1.DeploymentList { return &appsv1.DeploymentList{} }}
}

func (c Client[T, L]) req(r *rest.Request) *rest.Request {
	return r.NamespaceIfScoped(c.namespace, c.namespaced && c.namespace != "").Resource(c.resource)
}

func timeout(s *int64) time.Duration {
	if s == nil {
		return 0
	}
	return time.Duration(*s) * time.Second
}

// Get reads one object.
func (c Client[T, L]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	out := c.newObj()
	err := c.req(c.rest.Get()).Name(name).VersionedParams(&opts, c.params).Do(ctx).Into(out)
	return out, err
}

// List reads every object (of the namespace, or of all).
func (c Client[T, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	out := c.newList()
	err := c.req(c.rest.Get()).VersionedParams(&opts, c.params).Timeout(timeout(opts.TimeoutSeconds)).Do(ctx).Into(out)
	return out, err
}

// Watch streams changes.
func (c Client[T, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return c.req(c.rest.Get()).VersionedParams(&opts, c.params).Timeout(timeout(opts.TimeoutSeconds)).Watch(ctx)
}

// Create makes an object in the client's namespace, or in the object's own
// when the client is for all namespaces.
func (c Client[T, L]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	out := c.newObj()
	r, err := c.at(c.rest.Post(), obj)
	if err != nil {
		return out, err
	}
	err = r.VersionedParams(&opts, c.params).Body(obj).Do(ctx).Into(out)
	return out, err
}

// Update replaces an object's spec and metadata.
func (c Client[T, L]) Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	return c.put(ctx, obj, "", opts)
}

// UpdateStatus replaces an object's status.
func (c Client[T, L]) UpdateStatus(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	return c.put(ctx, obj, "status", opts)
}

func (c Client[T, L]) put(ctx context.Context, obj T, sub string, opts metav1.UpdateOptions) (T, error) {
	out := c.newObj()
	r, err := c.at(c.rest.Put(), obj)
	if err != nil {
		return out, err
	}
	m, _ := meta.Accessor(obj) // at checked it
	r = r.Name(m.GetName())
	if sub != "" {
		r = r.SubResource(sub)
	}
	err = r.VersionedParams(&opts, c.params).Body(obj).Do(ctx).Into(out)
	return out, err
}

// at addresses a request to obj's resource, in obj's namespace.
func (c Client[T, L]) at(r *rest.Request, obj T) (*rest.Request, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	ns := c.namespace
	if ns == "" {
		ns = m.GetNamespace()
	} else if m.GetNamespace() != "" && m.GetNamespace() != ns {
		return nil, fmt.Errorf("%s %s/%s: the client is for namespace %s", c.resource, m.GetNamespace(), m.GetName(), ns)
	}
	return r.NamespaceIfScoped(ns, c.namespaced).Resource(c.resource), nil
}

// Delete deletes an object.
func (c Client[T, L]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return c.req(c.rest.Delete()).Name(name).Body(&opts).Do(ctx).Error()
}

// ListWatch is the client as an informer's source.
func (c Client[T, L]) ListWatch() *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, o)
		},
	}
}

// Bind assigns a pod to a node, as the scheduler does.
func (p Pods) Bind(ctx context.Context, b *corev1.Binding, opts metav1.CreateOptions) error {
	ns := p.namespace
	if ns == "" {
		ns = b.Namespace
	}
	return p.rest.Post().Namespace(ns).Resource("pods").Name(b.Name).VersionedParams(&opts, p.params).
		SubResource("binding").Body(b).Do(ctx).Error()
}
