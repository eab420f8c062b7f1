package manifest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// dumpPod is one pod as `kubectl get -o yaml` prints it, as a List item.
func dumpPod(i int) string {
	return fmt.Sprintf(`- apiVersion: v1
  kind: Pod
  metadata:
    annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9090"}
    labels: {app: app%[1]d, tier: t%[2]d, pod-template-hash: "5d4f8b7c9"}
    managedFields:
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:labels:
            .: {}
            f:app: {}
        f:spec:
          f:containers:
            k:{"name":"main"}:
              .: {}
              f:image: {}
              f:name: {}
      manager: kube-controller-manager
      operation: Update
    name: app%[1]d-5d4f8b7c9-%05[1]d
    namespace: team%[2]d
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: app%[1]d-5d4f8b7c9, uid: u%[1]d, controller: true}]
    uid: 5f1c%08[1]d-aaaa-bbbb-cccc-000000000000
  spec:
    containers:
    - image: registry.example/app:1.0
      name: main
      ports: [{containerPort: 8080, name: http, protocol: TCP}]
      resources: {limits: {cpu: 500m, memory: 256Mi}, requests: {cpu: 100m, memory: 128Mi}}
    nodeName: node-%[2]d
    tolerations: [{effect: NoExecute, key: node.kubernetes.io/not-ready, operator: Exists, tolerationSeconds: 300}]
  status:
    phase: Running
    podIP: 10.1.%[3]d.%[4]d
`, i, i%7, i/250, i%250)
}

// Issue 13 (14): what decoding keeps stays near the size of the input. The
// node trees every object kept for positions were ~20 times the input;
// kubectl's List dumps were also parsed whole at once.
func TestDecodeKeepsLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~100 MB")
	}
	var b, d strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := 0; b.Len() < 8<<20; i++ {
		p := dumpPod(i)
		b.WriteString(p)
		for _, l := range strings.SplitAfter(p, "\n") {
			if len(l) > 2 {
				d.WriteString(l[2:])
			}
		}
		d.WriteString("---\n")
	}
	b.WriteString("metadata: {resourceVersion: \"\"}\n")
	list, docs := []byte(b.String()), []byte(d.String())
	for name, data := range map[string][]byte{"List": list, "documents": docs} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res, err := Decode("d.yaml", data, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		ratio := kept / float64(len(data))
		t.Logf("%s: %d objects from %d MB keep %.1f MB (%.1fx)", name, len(res.Objects), len(data)>>20, kept/(1<<20), ratio)
		if ratio > 6 {
			t.Errorf("%s: decoding keeps %.1fx the input", name, ratio)
		}
		if got := res.Objects[len(res.Objects)-1].FieldSource("spec.containers[0].ports[0].containerPort"); got.Line == 0 {
			t.Errorf("%s: no position for the last pod's port", name)
		}
		runtime.KeepAlive(res)
		runtime.KeepAlive(data)
	}
}
