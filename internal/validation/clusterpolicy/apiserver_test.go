package clusterpolicy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/palisade-net/palisade/internal/testenv"
)

// warningLog keeps the API server's Warning headers of the last request.
type warningLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningLog) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	cnpGK  = schema.GroupKind{Group: "policy.networking.k8s.io", Kind: "ClusterNetworkPolicy"}
)

// installCRD creates or replaces the ClusterNetworkPolicy CRD with a
// channel's and waits until the API server serves that channel's schema:
// probe is an object only that channel accepts.
func installCRD(t *testing.T, dc dynamic.Interface, ch CRDChannel, probe string) {
	t.Helper()
	ctx := context.Background()
	crd := &unstructured.Unstructured{Object: decodeYAML(t, string(CRDYAML(ch)))}
	crds := dc.Resource(crdGVR)
	if old, err := crds.Get(ctx, crd.GetName(), metav1.GetOptions{}); err == nil {
		crd.SetResourceVersion(old.GetResourceVersion())
		if _, err := crds.Update(ctx, crd, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("updating the CRD to %s: %v", ch, err)
		}
	} else if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the %s CRD: %v", ch, err)
	}
	obj := &unstructured.Unstructured{Object: decodeYAML(t, probe)}
	res := dc.Resource(cnpGK.WithVersion("v1beta1").GroupVersion().WithResource("clusternetworkpolicies"))
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := res.Create(ctx, obj.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server does not serve the %s CRD's schema after 60s: %v", ch, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestInvalidMatchesAPIServer sends every invalid object of
// invalidClusterNetworkPolicies to a real kube-apiserver (hack/testenv.sh,
// the version of k8s.io/apiextensions-apiserver in go.mod) with
// network-policy-api's CRD of the case's channel installed, as a dry-run
// create, and requires the very response Palisade predicts: the status
// message, every cause (type, field path, message, in order) and the
// Warning headers. It skips without the binaries; about 30 s, most of it
// starting kube-apiserver and etcd.
func TestInvalidMatchesAPIServer(t *testing.T) {
	if len(invalidClusterNetworkPolicies) < 30 {
		t.Fatalf("only %d cases", len(invalidClusterNetworkPolicies))
	}
	env := testenv.Start(t)
	warnings := &warningLog{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = warnings
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	probes := map[CRDChannel]string{
		ChannelStandard: "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: probe}\nspec: {tier: Admin, priority: 0, subject: {namespaces: {}}}\n",
		// destinationNamedPort is in the experimental schema only: the
		// standard one prunes it, leaving an empty protocol, which CEL
		// rejects.
		ChannelExperimental: "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: probe}\nspec: {tier: Admin, priority: 0, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{destinationNamedPort: http}]}]}\n",
	}
	compared := 0
	for _, ch := range []CRDChannel{ChannelStandard, ChannelExperimental} {
		installCRD(t, dc, ch, probes[ch])
		for _, tc := range invalidClusterNetworkPolicies {
			if tc.channel != ch {
				continue
			}
			t.Run(string(ch)+"/"+tc.name, func(t *testing.T) {
				obj := decodeYAML(t, tc.doc)
				u := &unstructured.Unstructured{Object: decodeYAML(t, tc.doc)}
				gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
				if err != nil {
					t.Fatal(err)
				}
				res := ValidateClusterNetworkPolicy(obj, ch)
				if len(res.Errs) == 0 {
					t.Fatal("Palisade accepts it")
				}
				want := apierrors.NewInvalid(cnpGK, u.GetName(), res.Errs).ErrStatus
				warnings.take()
				_, err = dc.Resource(gv.WithResource("clusternetworkpolicies")).Create(context.Background(), u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				gotWarnings := warnings.take()
				var se *apierrors.StatusError
				if !errors.As(err, &se) {
					t.Fatalf("the API server: %v (want %s)", err, want.Message)
				}
				got := se.ErrStatus
				if got.Reason != want.Reason || got.Message != want.Message {
					t.Errorf("status:\n api server %s: %s\n   palisade %s: %s", got.Reason, got.Message, want.Reason, want.Message)
				}
				var gotCauses, wantCauses []string
				if got.Details != nil {
					for _, c := range got.Details.Causes {
						gotCauses = append(gotCauses, fmt.Sprintf("%s %s: %s", c.Type, c.Field, c.Message))
					}
				}
				for _, c := range want.Details.Causes {
					wantCauses = append(wantCauses, fmt.Sprintf("%s %s: %s", c.Type, c.Field, c.Message))
				}
				if !slices.Equal(gotCauses, wantCauses) {
					t.Errorf("causes:\n api server %q\n   palisade %q", gotCauses, wantCauses)
				}
				if !slices.Equal(gotWarnings, res.Warnings) {
					t.Errorf("warnings:\n api server %q\n   palisade %q", gotWarnings, res.Warnings)
				}
			})
			compared++
		}
	}
	t.Logf("%d invalid ClusterNetworkPolicies compared with kube-apiserver", compared)
}
