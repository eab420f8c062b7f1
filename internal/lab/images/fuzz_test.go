package images

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzResolve feeds arbitrary images, commands, args and env to Resolve and
// ResolveExec: they must never panic, and every success must be a runnable
// plan.
func FuzzResolve(f *testing.F) {
	seeds := [][4]string{
		{"busybox", "", "", ""},
		{"docker.io/byrnedo/alpine-curl:0.1.8", "/bin/ash\x00-c\x00sleep 1", "", ""},
		{"registry.k8s.io/e2e-test-images/agnhost:2.53", "/agnhost\x00porter", "", "SERVE_PORT_80=foo\x00SERVE_UDP_PORT_x=1"},
		{"registry.k8s.io/e2e-test-images/agnhost:2.53", "", "netexec\x00--http-port=-5\x00--udp-port", ""},
		{"registry.k8s.io/e2e-test-images/agnhost@sha256:00", "", "serve-hostname\x00--port=99999999999", ""},
		{"mariadb:11.4", "", "--port\x00-P", "MARIADB_ROOT_PASSWORD=$(X)$$"},
		{"curlimages/curl", "", "-s", ""},
		{"nginx:1.27@sha256:abc", "docker-entrypoint.sh", "", ""},
		{"gcr.io/google-samples/hello-app:2.0", "", "", "PORT=$(PORT)0"},
		{"localhost:5000/x/y:z", "", "", ""},
		{"cilium/json-mock", "bash\x00/run.sh", "", "PORT=65536"},
		{"registry.k8s.io/pause", "", "", ""},
		{":::", "$(", "$$(", "=\x00a=$(a"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, "\x00")
	}
	f.Fuzz(func(t *testing.T, image, command, args, env string) {
		c := &corev1.Container{Image: image, Command: split(command), Args: split(args)}
		for _, kv := range split(env) {
			k, v, _ := strings.Cut(kv, "=")
			c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
		}
		check := func(p Plan, err error) {
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				var ue *UnsupportedError
				if errors.As(err, &ue) && !strings.Contains(err.Error(), "supported images:") {
					t.Fatalf("unsupported error without the list: %v", err)
				}
				return
			}
			if (p.Builtin == "") == (len(p.Argv) == 0) {
				t.Fatalf("plan needs exactly one of Builtin and Argv: %+v", p)
			}
			for _, l := range p.Listens {
				if l.Port < 1 || l.Port > 65535 {
					t.Fatalf("listen on port %d", l.Port)
				}
				if l.Protocol != corev1.ProtocolTCP && l.Protocol != corev1.ProtocolUDP {
					t.Fatalf("listen protocol %q", l.Protocol)
				}
			}
		}
		check(Resolve(c))
		if cmd := split(command); len(cmd) > 0 {
			check(ResolveExec(c, cmd))
		}
	})
}
