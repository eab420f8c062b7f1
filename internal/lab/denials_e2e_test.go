package lab_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// denialJSON spells out the `denials -o json` contract field by field, so
// a renamed field breaks this test rather than a user's script.
type denialJSON struct {
	Time      time.Time `json:"time"`
	Node      string    `json:"node"`
	Direction string    `json:"direction"`
	Reason    string    `json:"reason"`
	Protocol  string    `json:"protocol"`
	Source    struct {
		Pod  string `json:"pod"`
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"source"`
	Destination struct {
		Pod  string `json:"pod"`
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"destination"`
	Policies []string `json:"policies"`
}

func parseDenials(t *testing.T, out string) []denialJSON {
	t.Helper()
	var ds []denialJSON
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var d denialJSON
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		ds = append(ds, d)
	}
	return ds
}

func findDenial(ds []denialJSON, match func(denialJSON) bool) *denialJSON {
	for i := range ds {
		if match(ds[i]) {
			return &ds[i]
		}
	}
	return nil
}

const denialsLab = `apiVersion: apps/v1
kind: Deployment
metadata: {name: target}
spec:
  selector: {matchLabels: {app: target}}
  template:
    metadata: {labels: {app: target}}
    spec:
      containers:
      - {name: target, image: busybox:1.36, command: ["/bin/sh", "-c", "nc -lk -p 1234"], ports: [{containerPort: 1234}]}
---
apiVersion: v1
kind: Service
metadata: {name: target}
spec: {selector: {app: target}, ports: [{port: 2345, targetPort: 1234}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec: {containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: lonely, labels: {app: lonely}}
spec: {containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-target}
spec:
  podSelector: {matchLabels: {app: target}}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lonely-no-egress}
spec:
  podSelector: {matchLabels: {app: lonely}}
  policyTypes: [Egress]
`

// TestDenials: a connection a policy refuses shows up in `palisade
// denials` with its pods, target port (behind the service), protocol,
// direction and the policy that isolates the refusing pod; -f streams new
// ones as they happen.
func TestDenials(t *testing.T) {
	l := newLab(t)
	l.apply(denialsLab)
	l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=20s")
	target := "default/" + l.field("get", "pods", "-l", "app=target", "-o", "jsonpath={.items[0].metadata.name}")
	targetIP := l.field("get", "pods", "-l", "app=target", "-o", "jsonpath={.items[0].status.podIP}")

	// Ingress: through the service, so the rule sees the pod and port 1234.
	if _, _, code := l.run("exec", "client", "--", "nc", "-z", "-w", "1", "target", "2345"); code == 0 {
		t.Fatal("client reached the isolated target")
	}
	ds := parseDenials(t, l.must("denials", "-o", "json"))
	in := findDenial(ds, func(d denialJSON) bool { return d.Direction == "ingress" && d.Source.Pod == "default/client" })
	if in == nil {
		t.Fatalf("no ingress denial from default/client among %+v", ds)
	}
	if in.Destination.Pod != target || in.Destination.IP != targetIP || in.Destination.Port != 1234 || in.Protocol != "TCP" ||
		!slices.Equal(in.Policies, []string{"default/deny-target"}) || in.Node != "node-1" || in.Reason != "policy" ||
		in.Source.IP == "" || time.Since(in.Time) > time.Minute {
		t.Errorf("ingress denial %+v, want client -> %s (%s) TCP/1234 by default/deny-target", *in, target, targetIP)
	}

	// -f: the history first (so the follower is subscribed once it shows),
	// then what happens next.
	follow := exec.Command(palisade, "denials", "-f", "-o", "json")
	follow.Env = append(os.Environ(), "PALISADE_LAB_DIR="+l.dir)
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = follow.Process.Kill(); _ = follow.Wait() })
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(what string, match func(denialJSON) bool) *denialJSON {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("denials -f ended before %s", what)
				}
				if d := parseDenials(t, line); match(d[0]) {
					return &d[0]
				}
			case <-timeout:
				t.Fatalf("denials -f did not show %s within 5s", what)
			}
		}
	}
	next("the recorded ingress denial", func(d denialJSON) bool { return d.Direction == "ingress" })

	// Egress, UDP, straight to the pod address (no DNS, which the policy
	// would deny too).
	l.run("exec", "lonely", "--", "/bin/sh", "-c", "echo x | nc -u -w 1 "+targetIP+" 1234")
	eg := next("the new egress denial", func(d denialJSON) bool { return d.Direction == "egress" })
	if eg.Source.Pod != "default/lonely" || eg.Destination.Pod != target || eg.Destination.Port != 1234 || eg.Protocol != "UDP" ||
		!slices.Equal(eg.Policies, []string{"default/lonely-no-egress"}) {
		t.Errorf("egress denial %+v, want lonely -> %s UDP/1234 by default/lonely-no-egress", *eg, target)
	}
	_ = follow.Process.Kill()

	// Text: kubectl-like columns.
	text := l.must("denials")
	if !strings.HasPrefix(text, "TIME") || !strings.Contains(text, "default/client") || !strings.Contains(text, "default/lonely-no-egress") {
		t.Errorf("denials text:\n%s", text)
	}
	// -n keeps denials with a pod of the namespace on either side.
	if out, errs, code := l.run("denials", "-n", "kube-system"); code != 0 || out != "" || !strings.Contains(errs, "No denied packets recorded in kube-system namespace.") {
		t.Errorf("denials -n kube-system: %d %q %q", code, out, errs)
	}
	if ds := parseDenials(t, l.must("denials", "-A", "--tail", "1", "-o", "json")); len(ds) != 1 {
		t.Errorf("--tail 1 printed %d denials", len(ds))
	}
}

func TestDenialsWithoutLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	l := &labT{t: t, dir: t.TempDir()}
	if _, errs, code := l.run("denials"); code != 1 || !strings.Contains(errs, "the lab is not running: start it with 'palisade lab up'") {
		t.Errorf("denials without a lab: %d %q", code, errs)
	}
}
