// Package kubernetes is network-policy-api's conformance helper package
// (conformance/utils/kubernetes, v0.3.0) with the same functions and
// signatures, over Palisade's drivers: the tests' copies in ../upstream call
// it unchanged. PokeServer keeps upstream's reading of agnhost connect's
// output (doPokeServer below is upstream's, line for line); what a driver
// provides is RunCommandFromPod, the exec into the client pod.
package kubernetes

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"text/template"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	api "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/cnpsuite/client"
	"github.com/palisade-net/palisade/internal/cnpsuite/require"
)

// TimeoutConfig is upstream's config.TimeoutConfig.
type TimeoutConfig struct {
	CreateTimeout, DeleteTimeout, GetTimeout time.Duration
	RequestTimeout                           time.Duration
	PokeTimeout, PokeInterval                time.Duration
}

// DefaultTimeoutConfig is upstream's.
func DefaultTimeoutConfig() TimeoutConfig {
	return TimeoutConfig{CreateTimeout: 60 * time.Second, DeleteTimeout: 10 * time.Second, GetTimeout: 20 * time.Second,
		RequestTimeout: 3 * time.Second, PokeTimeout: 10 * time.Second, PokeInterval: 500 * time.Millisecond}
}

// Exec runs a command in a container of a pod, as upstream's
// RunCommandFromPod does through the API server. Upstream passes a
// clientset; here the driver is the clientset.
type Exec interface {
	RunCommandFromPod(namespace, pod, container string, cmd []string) (stdout, stderr string, err error)
}

// RunCommandFromPod is upstream's, through the driver, with upstream's
// choice of container (the StatefulSets' "<set>-client").
func RunCommandFromPod(c Exec, _ *rest.Config, podNamespace, podName string, cmd []string) (string, string, error) {
	containerName := podName[:len(podName)-1] + "client"
	return c.RunCommandFromPod(podNamespace, podName, containerName, cmd)
}

// Skipper is a driver that cannot measure some expectations (SCTP where
// the kernel has no SCTP sockets): SkipPoke says why, and PokeServer then
// logs the expectation as skipped instead of checking it.
type Skipper interface {
	SkipPoke(Poke) string
}

// PokeServer is upstream's: poll until the expected result, then once more.
func PokeServer(t *testing.T, client Exec, kubeConfig *rest.Config, clientNamespace, clientPod, protocol, targetHost string, targetPort int32, timeoutConfig TimeoutConfig, shouldConnect bool) {
	t.Helper()
	poke := Poke{t.Name(), clientNamespace, clientPod, protocol, targetHost, targetPort, shouldConnect}
	if p, ok := client.(Poker); ok {
		p.Poked(poke)
	}
	if s, ok := client.(Skipper); ok {
		if why := s.SkipPoke(poke); why != "" {
			t.Logf("SKIP %s/%s -> %s %s/%d (connect=%v): %s", clientNamespace, clientPod, targetHost, protocol, targetPort, shouldConnect, why)
			return
		}
	}
	require.Eventually(t, func() bool {
		return doPokeServer(t, client, kubeConfig, clientNamespace, clientPod, protocol, targetHost, targetPort, timeoutConfig.RequestTimeout, shouldConnect)
	}, timeoutConfig.PokeTimeout, timeoutConfig.PokeInterval)
	success := doPokeServer(t, client, kubeConfig, clientNamespace, clientPod, protocol, targetHost, targetPort, timeoutConfig.RequestTimeout, shouldConnect)
	require.True(t, success)
}

// Poke is one expectation of a test, for drivers that count them.
type Poke struct {
	Test                                             string // the subtest's full name
	ClientNamespace, ClientPod, Protocol, TargetHost string
	TargetPort                                       int32
	ShouldConnect                                    bool
}

// Poker is a driver that wants to see every expectation.
type Poker interface{ Poked(Poke) }

func doPokeServer(t *testing.T, client Exec, kubeConfig *rest.Config, clientNamespace, clientPod, protocol, targetHost string, targetPort int32, timeout time.Duration, shouldConnect bool) bool {
	t.Helper()
	timeoutArg := fmt.Sprintf("--timeout=%v", timeout)
	protocolArg := fmt.Sprintf("--protocol=%s", protocol)
	ipPortArg := net.JoinHostPort(targetHost, fmt.Sprintf("%d", targetPort))

	connectCommand := strings.Split(fmt.Sprintf("/agnhost connect %s %s %s",
		timeoutArg,
		protocolArg,
		ipPortArg), " ")

	stdout, stderr, err := RunCommandFromPod(client, kubeConfig, clientNamespace, clientPod, connectCommand)
	if err != nil && stderr == "" {
		t.Logf("FAILED to execute command %s on pod %s/%s: %v", connectCommand, clientNamespace, clientPod, err.Error())
		return false
	}
	if shouldConnect && len(stderr) > 0 {
		t.Logf("FAILED Command was %s", connectCommand)
		t.Logf("Expected connection to succeed from %s/%s to %s, but instead it miserably failed. stderr: %v",
			clientNamespace, clientPod, targetHost, stderr)
		return false
	} else if !shouldConnect {
		if stdout == "" && stderr == "" {
			t.Logf("FAILED Command was %s", connectCommand)
			t.Logf("Expected connection to fail from %s/%s to %s, but instead it successfully connected.",
				clientNamespace, clientPod, targetHost)
			return false
		} else if !strings.Contains(stderr, "TIMEOUT") {
			t.Logf("FAILED Command was %s", connectCommand)
			t.Logf("Expected connection to be dropped from %s/%s to %s, but instead it returned a different status: %s",
				clientNamespace, clientPod, targetHost, stderr)
			return false
		}
	}
	return true
}

func GetPod(t *testing.T, c client.Client, namespace string, name string, timeout time.Duration) *v1.Pod {
	pod := &v1.Pod{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, pod)
	require.NoErrorf(t, err, "unable to fetch pod %s/%s", namespace, name)
	return pod
}

func GetNamespace(t *testing.T, c client.Client, name string, timeout time.Duration) *v1.Namespace {
	namespace := &v1.Namespace{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.Get(ctx, client.ObjectKey{Name: name}, namespace)
	require.NoErrorf(t, err, "unable to fetch namespace %s", name)
	return namespace
}

func PatchNamespace(t *testing.T, c client.Client, from *v1.Namespace, to *v1.Namespace, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.Patch(ctx, to, client.MergeFrom(from))
	require.NoErrorf(t, err, "unable to patch namespace %s", from.Name)
}

func PatchPod(t *testing.T, c client.Client, from *v1.Pod, to *v1.Pod, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.Patch(ctx, to, client.MergeFrom(from))
	require.NoErrorf(t, err, "unable to patch pod %s/%s", from.Namespace, from.Name)
}

// SetPodLabel adds or updates a single label on the given pod.
func SetPodLabel(t *testing.T, c client.Client, namespace string, name string, key string, value string, timeout time.Duration) {
	pod := GetPod(t, c, namespace, name, timeout)
	mutatePod := pod.DeepCopy()
	if mutatePod.Labels == nil {
		mutatePod.Labels = map[string]string{}
	}
	mutatePod.Labels[key] = value
	PatchPod(t, c, pod, mutatePod, timeout)
}

// RemovePodLabel removes a single label from the given pod; it is a no-op if the label is absent.
func RemovePodLabel(t *testing.T, c client.Client, namespace string, name string, key string, timeout time.Duration) {
	pod := GetPod(t, c, namespace, name, timeout)
	mutatePod := pod.DeepCopy()
	delete(mutatePod.Labels, key)
	PatchPod(t, c, pod, mutatePod, timeout)
}

func GetClusterNetworkPolicy(t *testing.T, c client.Client, name string, timeout time.Duration) *api.ClusterNetworkPolicy {
	cnp := &api.ClusterNetworkPolicy{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.Get(ctx, client.ObjectKey{Name: name}, cnp)
	require.NoErrorf(t, err, "unable to fetch cluster network policy %s", name)
	return cnp
}

func PatchClusterNetworkPolicy(t *testing.T, c client.Client, from *api.ClusterNetworkPolicy, to *api.ClusterNetworkPolicy, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.Patch(ctx, to, client.MergeFrom(from))
	require.NoErrorf(t, err, "unable to patch cluster network policy %s", from.Name)
}

// Applier is upstream's: it applies a manifest of the embedded base/
// directory, templated with the host-network ports.
type Applier struct {
	FS               embed.FS
	HostNetworkPorts []int
}

// TemplateData is what manifests are templated with.
type TemplateData struct{ HostNetworkPorts []int }

// Render returns a manifest of the FS after templating (upstream's
// getContentsFromPathOrURL and applyTemplate).
func (a Applier) Render(location string) ([]byte, error) {
	data, err := a.FS.ReadFile(location)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("tmp").Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, TemplateData{HostNetworkPorts: a.HostNetworkPorts}); err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	return buf.Bytes(), nil
}

// Resources decodes a rendered manifest.
func (a Applier) Resources(location string) ([]unstructured.Unstructured, error) {
	data, err := a.Render(location)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []unstructured.Unstructured
	for {
		u := unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", location, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		out = append(out, u)
	}
}

// MustApplyWithCleanup is upstream's: create or update each object, and
// delete it when t ends if cleanup.
func (a Applier) MustApplyWithCleanup(t *testing.T, c client.Client, timeoutConfig TimeoutConfig, location string, cleanup bool) {
	t.Helper()
	resources, err := a.Resources(location)
	require.NoErrorf(t, err, "error parsing manifest")
	for i := range resources {
		uObj := &resources[i]
		ctx := context.Background()
		fetched := uObj.DeepCopy()
		err := c.Get(ctx, types.NamespacedName{Namespace: uObj.GetNamespace(), Name: uObj.GetName()}, fetched)
		switch {
		case apierrors.IsNotFound(err):
			require.NoErrorf(t, c.Create(ctx, uObj), "error creating resource")
		case err != nil:
			require.NoErrorf(t, err, "error getting resource")
		default:
			require.NoErrorf(t, c.Update(ctx, uObj), "error updating resource")
		}
		if cleanup {
			t.Cleanup(func() {
				if err := c.Delete(context.Background(), uObj); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("error deleting resource %s %s: %v", uObj.GetKind(), uObj.GetName(), err)
				}
			})
		}
	}
}
