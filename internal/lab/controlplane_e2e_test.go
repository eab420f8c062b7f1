package lab_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// findKubectl is a real kubectl: $KUBECTL, the one on PATH, or the one
// `hack/testenv.sh kubectl` builds into the cache.
func findKubectl(t *testing.T) string {
	t.Helper()
	if k := os.Getenv("KUBECTL"); k != "" {
		return k
	}
	if k, err := exec.LookPath("kubectl"); err == nil {
		return k
	}
	home, _ := os.UserHomeDir()
	k := filepath.Join(home, ".cache", "palisade", "kubectl-v1.37.2", "kubectl")
	if _, err := os.Stat(k); err == nil {
		return k
	}
	t.Skip("no kubectl: set $KUBECTL, put one on PATH or run 'hack/testenv.sh kubectl'")
	return ""
}

// TestKubectlDrivesUpstreamControlPlane: on `lab up --apiserver` the
// cluster is upstream's. A Deployment made with kubectl is expanded by
// kube-controller-manager, its pods placed by kube-scheduler on the lab's
// nodes, run by the lab and reported as a kubelet reports them (1/1,
// container statuses); a new namespace gets its default ServiceAccount; the
// endpointslice controller lists the ready pod for a Service, whose
// ClusterIP another pod reaches through the lab's service proxy; kubectl
// scale adds pods; deleting the namespace removes its pods and their
// network namespaces.
func TestKubectlDrivesUpstreamControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a lab on a real control plane")
	}
	kubectl := findKubectl(t)
	a := newAPILab(t, 2)
	kc := func(args ...string) (string, error) {
		cmd := exec.Command(kubectl, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+a.kubeconfig)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := kc(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	logs := func() {
		for _, f := range []string{"daemon.log", "apiserver/controller-manager.log", "apiserver/scheduler.log"} {
			b, _ := os.ReadFile(filepath.Join(a.dir, f))
			t.Logf("%s:\n%s", f, tail(string(b), 25))
		}
	}
	within := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				logs()
				t.Fatalf("timed out after %v: %s", d, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	must("create", "namespace", "ctl")
	within(30*time.Second, "the serviceaccount controller gives namespace ctl its default ServiceAccount", func() bool {
		_, err := kc("-n", "ctl", "get", "serviceaccount", "default")
		return err == nil
	})
	must("-n", "ctl", "create", "deployment", "web", "--image=nginx", "--port=80")

	type podList struct {
		Items []struct {
			Metadata struct{ Name string }
			Spec     struct{ NodeName string }
			Status   struct {
				Phase             string
				PodIP             string
				HostIP            string
				ContainerStatuses []struct {
					Ready        bool
					Started      *bool
					RestartCount int32
					Image        string
					ImageID      string
					ContainerID  string
					State        struct{ Running *struct{ StartedAt string } }
				}
				Conditions []struct{ Type, Status string }
			}
		}
	}
	pods := func(selector string) podList {
		out, err := kc("-n", "ctl", "get", "pods", "-l", selector, "-o", "json")
		var l podList
		if err == nil {
			_ = json.Unmarshal([]byte(out), &l)
		}
		return l
	}
	nodes := map[string]bool{}
	for _, n := range a.nodes {
		nodes[n.Name] = true
	}
	readyOnLab := func(selector string, want int) bool {
		l := pods(selector)
		if len(l.Items) != want {
			return false
		}
		for _, p := range l.Items {
			s := p.Status
			if !nodes[p.Spec.NodeName] || s.Phase != "Running" || s.PodIP == "" || s.HostIP == "" || len(s.ContainerStatuses) != 1 {
				return false
			}
			cs := s.ContainerStatuses[0]
			if !cs.Ready || cs.Started == nil || !*cs.Started || cs.State.Running == nil || cs.ContainerID == "" || cs.ImageID == "" || cs.Image != "nginx" {
				return false
			}
			conds := map[string]string{}
			for _, c := range s.Conditions {
				conds[c.Type] = c.Status
			}
			for _, c := range []string{"PodScheduled", "Initialized", "ContainersReady", "Ready"} {
				if conds[c] != "True" {
					return false
				}
			}
		}
		return true
	}
	within(60*time.Second, "the deployment's pod is scheduled onto a lab node, Running and Ready with its container status", func() bool {
		return readyOnLab("app=web", 1)
	})
	if out := must("-n", "ctl", "get", "pods", "-l", "app=web", "--no-headers"); !strings.Contains(out, " 1/1 ") || !strings.Contains(out, "Running") {
		t.Errorf("kubectl get pods does not show 1/1 Running:\n%s", out)
	}
	webIP := pods("app=web").Items[0].Status.PodIP

	// The endpointslice controller lists the ready pod for the Service.
	must("-n", "ctl", "expose", "deployment", "web", "--port=80")
	within(30*time.Second, "the EndpointSlice of service web lists the pod "+webIP, func() bool {
		out, err := kc("-n", "ctl", "get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}")
		return err == nil && strings.TrimSpace(out) == webIP
	})
	clusterIP := strings.TrimSpace(must("-n", "ctl", "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"))

	// Another pod reaches the ClusterIP: packets through the lab's proxy,
	// from the slices.
	must("-n", "ctl", "run", "client", "--image=busybox", "--", "sleep", "3600")
	within(60*time.Second, "the client pod is Ready", func() bool {
		out, err := kc("-n", "ctl", "get", "pod", "client", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && out == "True"
	})
	var body string
	within(30*time.Second, "client reaches web through its ClusterIP "+clusterIP, func() bool {
		out, _, code := a.run("exec", "-n", "ctl", "client", "--", "wget", "-q", "-O", "-", "-T", "2", "http://"+clusterIP+"/")
		body = out
		return code == 0
	})
	if !strings.Contains(strings.ToLower(body), "nginx") {
		t.Errorf("the answer through the ClusterIP is not nginx's page:\n%s", body)
	}
	// The lab's own verbs read the API server's objects.
	if out := a.must("get", "deploy", "-n", "ctl"); !strings.Contains(out, "web") {
		t.Errorf("palisade get deploy does not show kubectl's deployment:\n%s", out)
	}

	// kubectl scale: the ReplicaSet controller adds pods, the lab runs them.
	must("-n", "ctl", "scale", "deployment", "web", "--replicas=3")
	within(60*time.Second, "three web pods Running and Ready on the lab's nodes", func() bool {
		return readyOnLab("app=web", 3)
	})
	within(30*time.Second, "the EndpointSlice lists the three pods", func() bool {
		out, err := kc("-n", "ctl", "get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}")
		return err == nil && len(strings.Fields(out)) == 3
	})

	// The namespace controller deletes the pods; the lab stops them and
	// removes their network namespaces.
	st, err := lab.NewClient(a.dir).State()
	if err != nil {
		t.Fatal(err)
	}
	var netns []string
	for k, rt := range st.Runtime {
		if strings.HasPrefix(k, "ctl/") {
			netns = append(netns, rt.Netns)
		}
	}
	if len(netns) != 4 {
		t.Fatalf("the lab runs %d pods of namespace ctl, want 4 (3 web, client)", len(netns))
	}
	must("delete", "namespace", "ctl", "--wait=true", "--timeout=90s")
	within(30*time.Second, "the pods' network namespaces are gone", func() bool {
		left, err := plumbing.ListNetns(lab.Prefix(st.Config.Name) + "p")
		if err != nil {
			return false
		}
		for _, n := range left {
			for _, gone := range netns {
				if n == gone {
					return false
				}
			}
		}
		return true
	})
}
