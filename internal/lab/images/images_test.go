package images

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func tcp(port int32) Listen { return Listen{Port: port, Protocol: corev1.ProtocolTCP} }
func udp(port int32) Listen { return Listen{Port: port, Protocol: corev1.ProtocolUDP} }

func envVars(kv ...string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	return out
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name    string
		c       corev1.Container
		builtin string
		args    []string
		argv    []string
		env     []string // entries that must be present
		listens []Listen
	}{
		{name: "busybox default CMD", c: corev1.Container{Image: "busybox"}, argv: []string{"sh"}},
		{name: "busybox tag and command", c: corev1.Container{Image: "busybox:1.36", Command: []string{"sh", "-c", "sleep 3600"}},
			argv: []string{"sh", "-c", "sleep 3600"}},
		{name: "busybox digest with library prefix", c: corev1.Container{Image: "docker.io/library/busybox@sha256:0123abcd"}, argv: []string{"sh"}},
		{name: "busybox tag and digest", c: corev1.Container{Image: "busybox:1.36@sha256:0123abcd", Args: []string{"sleep", "1"}}, argv: []string{"sleep", "1"}},
		{name: "busybox private registry with port", c: corev1.Container{Image: "localhost:5000/busybox:musl"}, argv: []string{"sh"}},
		{name: "e2e busybox", c: corev1.Container{Image: "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"}, argv: []string{"sh"}},
		{name: "alpine default CMD maps /bin/sh", c: corev1.Container{Image: "alpine"}, argv: []string{"sh"}},
		{name: "alpine args replace CMD", c: corev1.Container{Image: "alpine:3.20", Args: []string{"echo", "hi"}}, argv: []string{"echo", "hi"}},
		{name: "alpine absolute nc", c: corev1.Container{Image: "alpine", Command: []string{"/usr/bin/nc", "-lk", "-p", "1234"}},
			argv: []string{"nc", "-lk", "-p", "1234"}},
		{name: "alpine keeps other absolute paths", c: corev1.Container{Image: "alpine", Command: []string{"/app/run.sh"}}, argv: []string{"/app/run.sh"}},
		{name: "alpine-curl command /bin/ash", c: corev1.Container{Image: "docker.io/byrnedo/alpine-curl:0.1.8", Command: []string{"/bin/ash", "-c", "sleep 1000000000"}},
			argv: []string{"ash", "-c", "sleep 1000000000"}},
		{name: "alpine-curl args go to curl", c: corev1.Container{Image: "byrnedo/alpine-curl", Args: []string{"-I", "backend:8080"}},
			argv: []string{"curl", "-I", "backend:8080"}},
		{name: "alpine-curl no args", c: corev1.Container{Image: "byrnedo/alpine-curl"}, argv: []string{"curl"}},
		{name: "curlimages flags", c: corev1.Container{Image: "curlimages/curl:8.10.1", Args: []string{"-s", "http://x"}}, argv: []string{"curl", "-s", "http://x"}},
		{name: "curlimages url", c: corev1.Container{Image: "curlimages/curl", Args: []string{"http://backend:8080"}}, argv: []string{"curl", "http://backend:8080"}},
		{name: "curlimages command in args", c: corev1.Container{Image: "curlimages/curl", Args: []string{"sh", "-c", "sleep 1"}}, argv: []string{"sh", "-c", "sleep 1"}},
		{name: "curlimages default", c: corev1.Container{Image: "quay.io/curl/curl:latest"}, argv: []string{"curl"}},
		{name: "nginx", c: corev1.Container{Image: "nginx"}, builtin: BuiltinNginx,
			args: []string{"--palisade-version", "1.27.3"}, listens: []Listen{tcp(80)}},
		{name: "nginx full tag", c: corev1.Container{Image: "nginx:1.25.3-alpine"}, builtin: BuiltinNginx,
			args: []string{"--palisade-version", "1.25.3"}, listens: []Listen{tcp(80)}},
		{name: "nginx digest", c: corev1.Container{Image: "docker.io/library/nginx:1.27@sha256:abcdef0123"}, builtin: BuiltinNginx,
			args: []string{"--palisade-version", "1.27.3"}, listens: []Listen{tcp(80)}},
		{name: "nginx own command", c: corev1.Container{Image: "nginx", Command: []string{"nginx", "-g", "daemon off;"}}, builtin: BuiltinNginx,
			args: []string{"--palisade-version", "1.27.3"}, listens: []Listen{tcp(80)}},
		{name: "nginx args through entrypoint", c: corev1.Container{Image: "nginx", Args: []string{"nginx-debug", "-g", "daemon off;"}}, builtin: BuiltinNginx,
			args: []string{"--palisade-version", "1.27.3"}, listens: []Listen{tcp(80)}},
		{name: "nginx shell command", c: corev1.Container{Image: "nginx", Command: []string{"sh", "-c", "sleep 1"}}, argv: []string{"sh", "-c", "sleep 1"}},
		{name: "hello-app 1.0", c: corev1.Container{Image: "gcr.io/google-samples/hello-app:1.0"}, builtin: BuiltinHelloApp,
			args: []string{"--palisade-version", "1.0.0"}, env: []string{"PORT=8080"}, listens: []Listen{tcp(8080)}},
		{name: "hello-app 2.0 with PORT", c: corev1.Container{Image: "gcr.io/google-samples/hello-app:2.0", Env: envVars("PORT=9090")}, builtin: BuiltinHelloApp,
			args: []string{"--palisade-version", "2.0.0"}, env: []string{"PORT=9090"}, listens: []Listen{tcp(9090)}},
		{name: "hello-app artifact registry", c: corev1.Container{Image: "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"}, builtin: BuiltinHelloApp,
			args: []string{"--palisade-version", "1.0.0"}, listens: []Listen{tcp(8080)}},
		{name: "json-mock with PORT", c: corev1.Container{Image: "docker.io/cilium/json-mock:1.2", Env: envVars("PORT=8080")}, builtin: BuiltinJSONMock,
			listens: []Listen{tcp(8080)}},
		{name: "json-mock default port", c: corev1.Container{Image: "quay.io/cilium/json-mock:v1.3.8"}, builtin: BuiltinJSONMock, listens: []Listen{tcp(80)}},
		{name: "mariadb", c: corev1.Container{Image: "mariadb:11.4"}, builtin: BuiltinMySQL,
			args: []string{"--palisade-flavor", "mariadb", "--palisade-version", "11.4.2"}, listens: []Listen{tcp(3306)}},
		{name: "mariadb flags through entrypoint", c: corev1.Container{Image: "docker.io/library/mariadb:10.6.18", Args: []string{"--port=3307"}}, builtin: BuiltinMySQL,
			args: []string{"--palisade-flavor", "mariadb", "--palisade-version", "10.6.18", "--port=3307"}, listens: []Listen{tcp(3307)}},
		{name: "mysql", c: corev1.Container{Image: "mysql:8.0.39"}, builtin: BuiltinMySQL,
			args: []string{"--palisade-flavor", "mysql", "--palisade-version", "8.0.39"}, listens: []Listen{tcp(3306)}},
		{name: "mysql command -P", c: corev1.Container{Image: "mysql", Command: []string{"mysqld", "-P", "13306"}}, builtin: BuiltinMySQL,
			args: []string{"--palisade-flavor", "mysql", "--palisade-version", "8.4.3", "-P", "13306"}, listens: []Listen{tcp(13306)}},
		{name: "agnhost porter as command", c: corev1.Container{
			Image:   "registry.k8s.io/e2e-test-images/agnhost:2.53",
			Command: []string{"/agnhost", "porter"},
			Env:     envVars("SERVE_PORT_80=foo", "SERVE_UDP_PORT_81=bar", "SERVE_SCTP_PORT_82=baz", "SERVE_TCP_PORT_443=q"),
		}, builtin: BuiltinAgnhost, args: []string{"porter"}, env: []string{"SERVE_PORT_80=foo"},
			listens: []Listen{tcp(80), udp(80), udp(81), tcp(443)}},
		{name: "agnhost porter as args", c: corev1.Container{
			Image: "k8s.gcr.io/e2e-test-images/agnhost:2.21", Args: []string{"porter"}, Env: envVars("SERVE_TCP_PORT_8080=x"),
		}, builtin: BuiltinAgnhost, args: []string{"porter"}, listens: []Listen{tcp(8080)}},
		{name: "agnhost serve-hostname", c: corev1.Container{
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Args: []string{"serve-hostname", "--tcp", "--http=false", "--port", "8080"},
		}, builtin: BuiltinAgnhost, args: []string{"serve-hostname", "--tcp", "--http=false", "--port", "8080"}, listens: []Listen{tcp(8080)}},
		{name: "agnhost serve-hostname udp", c: corev1.Container{
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Command: []string{"/agnhost", "serve-hostname", "--udp", "--http=false", "--port=81"},
		}, builtin: BuiltinAgnhost, args: []string{"serve-hostname", "--udp", "--http=false", "--port=81"}, listens: []Listen{udp(81)}},
		// network-policy-api's conformance manifests start agnhost through bash.
		{name: "agnhost serve-hostname through bash -c", c: corev1.Container{
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.45", Command: []string{"/bin/bash", "-c", "/agnhost serve-hostname --tcp --http=false --port 80"},
		}, builtin: BuiltinAgnhost, args: []string{"serve-hostname", "--tcp", "--http=false", "--port", "80"}, listens: []Listen{tcp(80)}},
		{name: "agnhost netexec through bash -c, env expanded first", c: corev1.Container{
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.45", Command: []string{"/bin/bash", "-c", "/agnhost netexec --http-port 34348 --udp-port 34347 --udp-listen-addresses $(HOST_IP)"},
			Env: envVars("HOST_IP=172.18.0.2"),
		}, builtin: BuiltinAgnhost, args: []string{"netexec", "--http-port", "34348", "--udp-port", "34347", "--udp-listen-addresses", "172.18.0.2"}, listens: []Listen{tcp(34348), udp(34347)}},
		{name: "agnhost: a real script stays the shell's", c: corev1.Container{
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.45", Command: []string{"/bin/sh", "-c", "/agnhost porter; sleep 1"},
		}, argv: []string{"sh", "-c", "/agnhost porter; sleep 1"}},
		{name: "agnhost serve-hostname default http", c: corev1.Container{
			Image: "gcr.io/kubernetes-e2e-test-images/agnhost:2.8", Args: []string{"serve-hostname"},
		}, builtin: BuiltinAgnhost, args: []string{"serve-hostname"}, listens: []Listen{tcp(9376)}},
		{name: "agnhost netexec", c: corev1.Container{
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Args: []string{"netexec", "--http-port=8080", "--udp-port=8081"},
		}, builtin: BuiltinAgnhost, args: []string{"netexec", "--http-port=8080", "--udp-port=8081"}, listens: []Listen{tcp(8080), udp(8081)}},
		{name: "agnhost netexec no udp", c: corev1.Container{
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Args: []string{"netexec", "--http-port", "80", "--udp-port", "-1"},
		}, builtin: BuiltinAgnhost, args: []string{"netexec", "--http-port", "80", "--udp-port", "-1"}, listens: []Listen{tcp(80)}},
		{name: "agnhost default CMD pause", c: corev1.Container{Image: "registry.k8s.io/e2e-test-images/agnhost:2.53"},
			builtin: BuiltinAgnhost, args: []string{"pause"}},
		{name: "agnhost shell", c: corev1.Container{Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Command: []string{"/bin/sh", "-c", "sleep 1"}},
			argv: []string{"sh", "-c", "sleep 1"}},
		{name: "pause", c: corev1.Container{Image: "registry.k8s.io/pause:3.10"}, builtin: BuiltinPause},
		{name: "old pause", c: corev1.Container{Image: "k8s.gcr.io/pause"}, builtin: BuiltinPause},
		{name: "env expansion", c: corev1.Container{
			Image:   "busybox",
			Command: []string{"sh", "-c", "echo $(GREETING) $$(GREETING) $(MISSING) $(NAME)"},
			Env:     envVars("GREETING=hi", "NAME=$(GREETING)-there"),
		}, argv: []string{"sh", "-c", "echo hi $(GREETING) $(MISSING) hi-there"}, env: []string{"NAME=hi-there"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			p, err := Resolve(&c)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", c.Image, err)
			}
			if p.Builtin != tc.builtin {
				t.Errorf("Builtin = %q, want %q", p.Builtin, tc.builtin)
			}
			if !reflect.DeepEqual(p.Args, tc.args) && !(len(p.Args) == 0 && len(tc.args) == 0) {
				t.Errorf("Args = %q, want %q", p.Args, tc.args)
			}
			if !reflect.DeepEqual(p.Argv, tc.argv) {
				t.Errorf("Argv = %q, want %q", p.Argv, tc.argv)
			}
			if !reflect.DeepEqual(p.Listens, tc.listens) {
				t.Errorf("Listens = %v, want %v", p.Listens, tc.listens)
			}
			for _, want := range tc.env {
				found := false
				for _, kv := range p.Env {
					if kv == want {
						found = true
					}
				}
				if !found {
					t.Errorf("Env %q lacks %q", p.Env, want)
				}
			}
			seen := map[string]bool{}
			for _, kv := range p.Env {
				k, _, _ := strings.Cut(kv, "=")
				if seen[k] {
					t.Errorf("Env %q defines %s twice", p.Env, k)
				}
				seen[k] = true
			}
			if (p.Builtin == "") == (len(p.Argv) == 0) {
				t.Errorf("plan must have exactly one of Builtin and Argv: %+v", p)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	cases := []struct {
		name     string
		c        corev1.Container
		wantType any
		contains []string
	}{
		{name: "unknown image", c: corev1.Container{Image: "redis:7"}, wantType: &UnsupportedError{},
			contains: []string{`"redis:7"`, "supported images:", "busybox", "nginx", "agnhost", "json-mock", "mariadb"}},
		{name: "lookalike repository", c: corev1.Container{Image: "bitnami/nginx:1.27"}, wantType: &UnsupportedError{},
			contains: []string{`"bitnami/nginx:1.27"`}},
		{name: "agnhost subcommand", c: corev1.Container{Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Command: []string{"/agnhost", "liveness"}},
			wantType: &UnsupportedError{}, contains: []string{`agnhost subcommand "liveness"`, "porter"}},
		{name: "pause has no shell", c: corev1.Container{Image: "registry.k8s.io/pause:3.10", Command: []string{"sh"}},
			wantType: &NotFoundError{}, contains: []string{`"sh"`, "executable file not found"}},
		{name: "empty image", c: corev1.Container{Image: ""}, contains: []string{"invalid image reference"}},
		{name: "uppercase", c: corev1.Container{Image: "Nginx"}, contains: []string{"lowercase"}},
		{name: "bad digest", c: corev1.Container{Image: "nginx@sha256"}, contains: []string{"digest"}},
		{name: "space", c: corev1.Container{Image: "nginx latest"}, contains: []string{"whitespace"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			_, err := Resolve(&c)
			if err == nil {
				t.Fatalf("Resolve(%q) succeeded", c.Image)
			}
			switch tc.wantType.(type) {
			case *UnsupportedError:
				var ue *UnsupportedError
				if !errors.As(err, &ue) {
					t.Fatalf("error %T is not *UnsupportedError: %v", err, err)
				}
			case *NotFoundError:
				var ne *NotFoundError
				if !errors.As(err, &ne) {
					t.Fatalf("error %T is not *NotFoundError: %v", err, err)
				}
			}
			for _, s := range tc.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
	if _, err := Resolve(nil); err == nil {
		t.Error("Resolve(nil) succeeded")
	}
}

func TestResolveExec(t *testing.T) {
	agn := &corev1.Container{Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Command: []string{"/agnhost", "porter"}}
	p, err := ResolveExec(agn, []string{"/agnhost", "connect", "10.0.0.1:80", "--timeout=1s", "--protocol=tcp"})
	if err != nil || p.Builtin != BuiltinAgnhost || !reflect.DeepEqual(p.Args, []string{"connect", "10.0.0.1:80", "--timeout=1s", "--protocol=tcp"}) {
		t.Errorf("agnhost connect exec = %+v, %v", p, err)
	}
	if p.Listens != nil {
		t.Errorf("connect listens on %v", p.Listens)
	}
	p, err = ResolveExec(agn, []string{"/bin/sh", "-c", "nc -z x 80"})
	if err != nil || !reflect.DeepEqual(p.Argv, []string{"sh", "-c", "nc -z x 80"}) {
		t.Errorf("agnhost sh exec = %+v, %v", p, err)
	}
	p, err = ResolveExec(&corev1.Container{Image: "docker.io/byrnedo/alpine-curl:0.1.8"}, []string{"curl", "-I", "--connect-timeout", "5", "backend:8080"})
	if err != nil || !reflect.DeepEqual(p.Argv, []string{"curl", "-I", "--connect-timeout", "5", "backend:8080"}) {
		t.Errorf("curl exec = %+v, %v", p, err)
	}
	_, err = ResolveExec(&corev1.Container{Image: "registry.k8s.io/pause:3.10"}, []string{"sh"})
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("exec sh in pause: %v, want NotFoundError", err)
	}
	if _, err := ResolveExec(agn, nil); err == nil {
		t.Error("exec with no command succeeded")
	}
	var ue *UnsupportedError
	if _, err := ResolveExec(&corev1.Container{Image: "redis"}, []string{"sh"}); !errors.As(err, &ue) {
		t.Errorf("exec in unsupported image: %v", err)
	}
}

func TestSupported(t *testing.T) {
	lines := Supported()
	want := []string{"busybox", "alpine", "byrnedo/alpine-curl", "curlimages/curl", "nginx", "google-samples/hello-app",
		"cilium/json-mock", "mariadb", "mysql", "e2e-test-images/agnhost", "registry.k8s.io/pause"}
	all := strings.Join(lines, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("Supported() lacks %s:\n%s", w, all)
		}
	}
	if len(lines) != len(catalog())-1 {
		t.Errorf("Supported() has %d lines for %d user images", len(lines), len(catalog())-1)
	}
	for _, l := range lines {
		if strings.Contains(l, "\n") {
			t.Errorf("line %q spans lines", l)
		}
	}
}

func TestKubeDNSImage(t *testing.T) {
	p, err := Resolve(&corev1.Container{Image: KubeDNSImage, Env: envVars(kubeDNSRecordsEnv + "=/run/lab/dns.json")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Builtin != BuiltinKubeDNS || !reflect.DeepEqual(p.Args, []string{"--records", "/run/lab/dns.json"}) ||
		!reflect.DeepEqual(p.Listens, []Listen{udp(53), tcp(53)}) {
		t.Errorf("plan %+v", p)
	}
	if _, err := Resolve(&corev1.Container{Image: KubeDNSImage}); err == nil || !strings.Contains(err.Error(), kubeDNSRecordsEnv) {
		t.Errorf("without the records env: %v", err)
	}
	// Users cannot reach the lab-internal runtime by another name, and the
	// help texts do not offer it.
	var ue *UnsupportedError
	for _, img := range []string{"kube-dns", "docker.io/kube-dns:lab"} {
		if _, err := Resolve(&corev1.Container{Image: img}); !errors.As(err, &ue) {
			t.Errorf("Resolve(%q) = %v, want unsupported", img, err)
		}
	}
	if strings.Contains(strings.Join(Supported(), "\n"), "kube-dns") || strings.Contains(strings.Join(supportedNames(), " "), "kube-dns") {
		t.Error("the lab's DNS image is advertised")
	}
	if RuntimeArg0 != "__runtime" {
		t.Errorf("RuntimeArg0 = %q", RuntimeArg0)
	}
}

func TestKubeDNSPlan(t *testing.T) {
	p := KubeDNSPlan("/run/palisade/dns.json")
	if p.Builtin != BuiltinKubeDNS || !reflect.DeepEqual(p.Args, []string{"--records", "/run/palisade/dns.json"}) {
		t.Errorf("plan %+v", p)
	}
	if !reflect.DeepEqual(p.Listens, []Listen{udp(53), tcp(53)}) {
		t.Errorf("listens %v", p.Listens)
	}
}

func TestParseRef(t *testing.T) {
	cases := []struct {
		in                          string
		registry, path, tag, digest string
	}{
		{in: "nginx", path: "nginx"},
		{in: "nginx:1.27", path: "nginx", tag: "1.27"},
		{in: "docker.io/library/nginx:1.27", registry: "docker.io", path: "nginx", tag: "1.27"},
		{in: "localhost:5000/team/app:v1@sha256:abc", registry: "localhost:5000", path: "team/app", tag: "v1", digest: "sha256:abc"},
		{in: "localhost/app", registry: "localhost", path: "app"},
		{in: "library/busybox", path: "busybox"},
		{in: "gcr.io/google-samples/hello-app:2.0", registry: "gcr.io", path: "google-samples/hello-app", tag: "2.0"},
	}
	for _, tc := range cases {
		r, err := parseRef(tc.in)
		if err != nil {
			t.Errorf("parseRef(%q): %v", tc.in, err)
			continue
		}
		if r.registry != tc.registry || r.path != tc.path || r.tag != tc.tag || r.digest != tc.digest {
			t.Errorf("parseRef(%q) = %+v", tc.in, r)
		}
	}
	for _, bad := range []string{"", ":tag", "nginx:", "a//b", "nginx:-x", "-nginx", "nginx@", "héllo", "a/B"} {
		if _, err := parseRef(bad); err == nil {
			t.Errorf("parseRef(%q) accepted", bad)
		}
	}
}

func TestToolboxArgv(t *testing.T) {
	cases := map[string]string{
		"/bin/sh": "sh", "/bin/ash": "ash", "/usr/bin/nc": "nc", "/usr/local/bin/curl": "curl", "/sbin/ip": "ip",
		"sh": "sh", "./hello": "./hello", "/app/run": "/app/run", "/bin/": "/bin/",
	}
	for in, want := range cases {
		if got := toolboxArgv([]string{in, "x"}); got[0] != want || got[1] != "x" {
			t.Errorf("toolboxArgv(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBindHosts(t *testing.T) {
	p := &proc{}
	if got := p.bindHosts(); !reflect.DeepEqual(got, []string{""}) {
		t.Errorf("default bind hosts = %q, want the dual-stack wildcard", got)
	}
	p.env = []string{listenAddrsEnv + "=127.0.0.1, ::1,"}
	if got := p.bindHosts(); !reflect.DeepEqual(got, []string{"127.0.0.1", "::1"}) {
		t.Errorf("bind hosts = %q", got)
	}
}
