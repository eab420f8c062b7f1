package assert

import (
	"bytes"
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
)

// netassertFile is netassert v2's own e2e test file shape (its
// e2e/manifests/test-cases.yaml), unchanged.
const netassertFile = `---
- name: busybox-deploy-to-echoserver-deploy
  type: k8s
  protocol: tcp
  targetPort: 8080
  timeoutSeconds: 269
  attempts: 3
  exitCode: 0
  src:
    k8sResource:
      kind: deployment
      name: busybox
      namespace: busybox
  dst:
    k8sResource:
      kind: deployment
      name: echoserver
      namespace: echoserver
######
- name: web-statefulset-to-busybox-deploy
  type: k8s
  protocol: udp
  targetPort: 53
  exitCode: 1
  src:
    k8sResource: ## this is type endpoint
      kind: statefulset
      name: web
      namespace: web
  dst:
    k8sResource:
      kind: pod
      name: echoserver
      namespace: echoserver
- name: busybox-deploy-to-control-plane-dot-io
  type: k8s
  protocol: tcp
  targetPort: 80
  timeoutSeconds: 269
  attempts: 10
  exitCode: 0
  src:
    k8sResource: # type endpoint
      kind: daemonset
      name: busybox
      namespace: busybox
  dst:
    host: # type host or node or machine
      name: control-plane.io
- name: busybox-deploy-to-fake-host
  type: k8s
  targetPort: 333
  exitCode: 1
  src:
    k8sResource:
      kind: deployment
      name: busybox
      namespace: busybox
  dst:
    host:
      name: 0.0.0.0
`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Assertion // File is "f.yaml"; compared without it
		err  string      // substring of the error, when it must fail
	}{
		{name: "palisade file with defaults and all reference forms",
			in: `kind: Assertions
namespace: shop
assertions:
- from: web
  to: svc/payments/api
  port: 8080
  expect: allowed
- name: db closed
  from: shop/deploy/web
  to: sts/data/db
  port: 5432
  protocol: udp
  expect: denied
- from: 10.0.0.1
  to: shop/db-0
  port: 1
  expect: Deny
`,
			want: []Assertion{
				{Name: "web -> payments/svc/api TCP/8080 allowed", From: "web", To: "payments/svc/api", Port: 8080, Protocol: corev1.ProtocolTCP, Expect: Allowed, Namespace: "shop", Line: 4, Format: FormatPalisade},
				{Name: "db closed", From: "shop/deploy/web", To: "data/sts/db", Port: 5432, Protocol: corev1.ProtocolUDP, Expect: Denied, Namespace: "shop", Line: 8, Format: FormatPalisade},
				{Name: "10.0.0.1 -> shop/db-0 TCP/1 denied", From: "10.0.0.1", To: "shop/db-0", Port: 1, Protocol: corev1.ProtocolTCP, Expect: Denied, Namespace: "shop", Line: 14, Format: FormatPalisade},
			}},
		{name: "a bare list of assertions",
			in:   "- {from: a, to: b, port: 80, expect: allowed, namespace: x}\n",
			want: []Assertion{{Name: "a -> b TCP/80 allowed", From: "a", To: "b", Port: 80, Protocol: corev1.ProtocolTCP, Expect: Allowed, Namespace: "x", Line: 1, Format: FormatPalisade}}},
		{name: "netassert v2 file unchanged",
			in: netassertFile,
			want: []Assertion{
				{Name: "busybox-deploy-to-echoserver-deploy", From: "busybox/deploy/busybox", To: "echoserver/deploy/echoserver", Port: 8080, Protocol: corev1.ProtocolTCP, Expect: Allowed, Line: 2, Format: FormatNetassert},
				{Name: "web-statefulset-to-busybox-deploy", From: "web/sts/web", To: "echoserver/pod/echoserver", Port: 53, Protocol: corev1.ProtocolUDP, Expect: Denied, Line: 20, Format: FormatNetassert},
				{Name: "busybox-deploy-to-control-plane-dot-io", From: "busybox/ds/busybox", To: "control-plane.io", Port: 80, Protocol: corev1.ProtocolTCP, Expect: Allowed, Line: 35, Format: FormatNetassert,
					Skip: `host "control-plane.io" is a DNS name outside the cluster: its address, and so the verdict, is not known without resolving it`},
				{Name: "busybox-deploy-to-fake-host", From: "busybox/deploy/busybox", To: "0.0.0.0", Port: 333, Protocol: corev1.ProtocolTCP, Expect: Denied, Line: 50, Format: FormatNetassert},
			}},
		{name: "netassert service DNS name is the service",
			in:   "- {name: n, type: k8s, targetPort: 80, src: {k8sResource: {kind: pod, name: a, namespace: x}}, dst: {host: {name: web.shop.svc.cluster.local}}}\n",
			want: []Assertion{{Name: "n", From: "x/pod/a", To: "shop/svc/web", Port: 80, Protocol: corev1.ProtocolTCP, Expect: Allowed, Line: 1, Format: FormatNetassert}}},
		{name: "empty file", in: "# nothing\n", err: "f.yaml: no assertions"},
		{name: "port out of range names line and field",
			in: "assertions:\n- from: a\n  to: b\n  port: 70000\n  expect: allowed\n", err: "f.yaml:4: assertions[0].port: must be between 1 and 65535, not 70000"},
		{name: "missing expect",
			in: "assertions:\n- from: a\n  to: b\n  port: 80\n", err: "f.yaml:2: assertions[0].expect: missing"},
		{name: "bad expect",
			in: "assertions:\n- {from: a, to: b, port: 80, expect: maybe}\n", err: `f.yaml:2: assertions[0].expect: want allowed or denied, not "maybe"`},
		{name: "unknown field",
			in: "assertions:\n- from: a\n  to: b\n  prot: 80\n  expect: allowed\n", err: "f.yaml:4: assertions[0].prot: unknown field"},
		{name: "bad protocol",
			in: "assertions:\n- {from: a, to: b, port: 80, protocol: icmp, expect: allowed}\n", err: `assertions[0].protocol: want TCP, UDP or SCTP, not "icmp"`},
		{name: "bad reference",
			in: "assertions:\n- {from: a/b/c, to: b, port: 80, expect: allowed}\n", err: `f.yaml:2: assertions[0].from: "a/b/c": want NS/KIND/NAME or KIND/NS/NAME`},
		{name: "duplicate names",
			in: "- {name: x, from: a, to: b, port: 80, expect: allowed}\n- {name: x, from: a, to: b, port: 81, expect: allowed}\n", err: `f.yaml:2: [1].name: duplicate name "x" (first at line 1)`},
		{name: "yaml syntax error has its line",
			in: "assertions:\n- from: a\n  to: [b\n", err: "f.yaml:"},
		{name: "netassert wrong type",
			in: "- {name: n, type: http, targetPort: 80, src: {k8sResource: {kind: pod, name: a, namespace: x}}, dst: {host: {name: 1.2.3.4}}}\n", err: `f.yaml:1: [0].type: want k8s`},
		{name: "netassert missing namespace and bad kind",
			in: "- name: n\n  type: k8s\n  targetPort: 80\n  src:\n    k8sResource:\n      kind: job\n      name: a\n  dst: {host: {name: 1.2.3.4}}\n", err: "f.yaml:6: [0].src.k8sResource.namespace: missing"},
		{name: "netassert udp to a host",
			in: "- {name: n, type: k8s, protocol: udp, targetPort: 53, src: {k8sResource: {kind: pod, name: a, namespace: x}}, dst: {host: {name: 1.2.3.4}}}\n", err: "dst.host: with udp tests the destination must be a k8sResource"},
		{name: "netassert attempts must be positive",
			in: "- {name: n, type: k8s, attempts: 0, targetPort: 53, src: {k8sResource: {kind: pod, name: a, namespace: x}}, dst: {host: {name: 1.2.3.4}}}\n", err: "[0].attempts: must be a number > 0"},
		{name: "scalar document", in: "hello\n", err: "f.yaml:1: want a mapping with assertions:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("f.yaml", []byte(tt.in))
			if tt.err != "" {
				var list ErrorList
				if !errors.As(err, &list) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i].File != "f.yaml" {
					t.Errorf("file %q", got[i].File)
				}
				got[i].File = ""
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// FuzzParse: any input either parses into assertions that are complete
// (ports in range, a promise, a normalised reference), or fails with
// errors that each name the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(netassertFile))
	f.Add([]byte("assertions:\n- {from: a, to: svc/x/b, port: 80, expect: allowed}\n"))
	f.Add([]byte("- {from: a, to: b, port: 80, expect: denied}\n---\n- &a {from: a, to: c, port: 1, expect: allowed}\n- *a\n"))
	f.Add([]byte("kind: Assertions\nassertions: [1, {}, {from: {}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := Parse("f.yaml", data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error of type %T: %v", err, err)
			}
			for _, e := range list {
				if e.File != "f.yaml" || !strings.HasPrefix(e.Error(), "f.yaml") {
					t.Fatalf("error does not name the file: %v", e)
				}
			}
			return
		}
		if len(as) == 0 {
			t.Fatal("no assertions and no error")
		}
		names := map[string]bool{}
		for _, a := range as {
			if a.Port < 1 || a.Port > 65535 || (a.Expect != Allowed && a.Expect != Denied) || a.From == "" || a.To == "" || a.Protocol == "" || a.Line < 1 {
				t.Fatalf("incomplete assertion %+v", a)
			}
			if names[a.Name] {
				t.Fatalf("duplicate name %q", a.Name)
			}
			names[a.Name] = true
			if a.Skip == "" {
				if n, err := Normalize(a.To); err != nil || n != a.To {
					t.Fatalf("to %q not normalised: %q %v", a.To, n, err)
				}
			}
		}
	})
}

// snapshot01 is tutorial 01: deny all ingress, target open to allowed.
func snapshot01(t *testing.T) *cluster.Snapshot {
	t.Helper()
	res, err := manifest.Load(manifest.Options{Validation: manifest.ValidateStrict}, "../../examples/01-restricting-network-connectivity")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cluster.Build(res.Objects, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestJudge(t *testing.T) {
	snap := snapshot01(t)
	as, err := Parse("a.yaml", []byte(`assertions:
- {name: ok-allowed, from: deploy/allowed, to: svc/default/target, port: 2345, expect: allowed}
- {name: ok-denied, from: deploy/denied, to: default/deploy/target, port: 1234, expect: denied}
- {name: broken-promise, from: deploy/denied, to: svc/default/target, port: 2345, expect: allowed}
- {name: typo, from: deploy/nosuch, to: svc/default/target, port: 2345, expect: allowed}
- {name: outside, from: deploy/allowed, to: 192.0.2.1, port: 443, expect: allowed}
`))
	if err != nil {
		t.Fatal(err)
	}
	as = append(as, Assertion{Name: "skipped", From: "a", To: "example.com", Port: 1, Expect: Allowed, Skip: "dns", File: "a.yaml", Line: 9})
	rs := Judge(Offline(snap), as, "default")
	want := []Status{Pass, Pass, Fail, Error, Pass, Skip}
	for i, r := range rs {
		if r.Status != want[i] {
			t.Errorf("%s: status %s (%s), want %s", r.Assertion.Name, r.Status, r.Message, want[i])
		}
	}
	if m := rs[2].Message; m != "expected allowed, the engine says denied" {
		t.Errorf("failure message %q", m)
	}
	if !strings.Contains(rs[2].Explanation, "DENY ingress of default/target-") {
		t.Errorf("explanation lacks the check's text:\n%s", rs[2].Explanation)
	}
	if !strings.HasPrefix(rs[3].Message, "a.yaml:5: not found:") {
		t.Errorf("error message %q", rs[3].Message)
	}
	if s := Summarize(rs); s != (Summary{Total: 6, Passed: 3, Failed: 1, Skip: 1, Errors: 1}) {
		t.Errorf("summary %+v", s)
	}

	// A measurement decides, and a disagreement with the engine is said.
	r := rs[0]
	Measure(&r, Measurement{Measured: true, Verdict: "denied"})
	if r.Status != Fail || r.Message != "expected allowed, packets say denied; packets (denied) disagree with the engine (allowed)" {
		t.Errorf("measured denied: %s %q", r.Status, r.Message)
	}
	r = rs[1]
	Measure(&r, Measurement{Reason: "service leads to 2 pods"})
	if r.Status != Fail || r.Message != "not measured: service leads to 2 pods" {
		t.Errorf("not measured: %s %q", r.Status, r.Message)
	}
}

func TestOutputs(t *testing.T) {
	snap := snapshot01(t)
	as, err := Parse("a.yaml", []byte(`assertions:
- {name: ok, from: deploy/allowed, to: svc/default/target, port: 2345, expect: allowed}
- {name: "broken # promise", from: deploy/denied, to: svc/default/target, port: 2345, expect: allowed}
`))
	if err != nil {
		t.Fatal(err)
	}
	as = append(as, Assertion{Name: "skipped", From: "a", To: "example.com", Port: 1, Expect: Allowed, Skip: "dns name", File: "b.yaml", Line: 3, Format: FormatNetassert})
	rs := Judge(Offline(snap), as, "default")

	var junit bytes.Buffer
	if err := JUnit(&junit, rs); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Tests int    `xml:"tests,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Line    int    `xml:"line,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
				Out string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(junit.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit is not XML: %v\n%s", err, junit.String())
	}
	if doc.Tests != 3 || doc.Failures != 1 || doc.Skipped != 1 || len(doc.Suites) != 2 || doc.Suites[0].Name != "a.yaml" || doc.Suites[0].Tests != 2 {
		t.Fatalf("JUnit counts: %+v", doc)
	}
	cs := doc.Suites[0].Cases
	if cs[0].Name != "ok" || cs[0].Failure != nil || !strings.Contains(cs[0].Out, "ALLOWED  default/allowed-") {
		t.Errorf("passing case: %+v", cs[0])
	}
	f := cs[1].Failure
	if cs[1].Name != "broken # promise" || cs[1].Line != 3 || f == nil || f.Message != "expected allowed, the engine says denied" || !strings.Contains(f.Text, "DENY ingress of default/target-") {
		t.Errorf("failing case: %+v", cs[1])
	}
	if s := doc.Suites[1].Cases[0].Skipped; s == nil || s.Message != "dns name" {
		t.Errorf("skipped case: %+v", doc.Suites[1].Cases[0])
	}

	var tap bytes.Buffer
	if err := TAP(&tap, rs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TAP version 13\n1..3\n", "ok 1 - ok\n", "not ok 2 - broken \\# promise\n  ---\n  message: \"expected allowed, the engine says denied\"\n",
		"  explanation: |\n    deploy/denied -> service default/target", "  ...\nok 3 - skipped # SKIP dns name\n"} {
		if !strings.Contains(tap.String(), want) {
			t.Errorf("TAP lacks %q:\n%s", want, tap.String())
		}
	}
	var text bytes.Buffer
	if err := Text(&text, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(text.String(), "3 assertions: 1 passed, 1 failed, 1 skipped, 0 errors\n") || !strings.Contains(text.String(), "FAIL  broken # promise  (a.yaml:3)") {
		t.Errorf("text:\n%s", text.String())
	}
}
