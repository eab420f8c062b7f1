package images

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// RuntimeArg0 is the palisade subcommand that starts a builtin:
// <palisade binary> __runtime <Builtin> <Args...>.
const RuntimeArg0 = "__runtime"

// KubeDNSImage is the image of the lab's cluster DNS pod. It is not CoreDNS
// and says so: Resolve runs it as the kube-dns builtin, answering from the
// records file named by $PALISADE_DNS_RECORDS.
const KubeDNSImage = "palisade.local/kube-dns:lab"

// kubeDNSRecordsEnv names the records file in the DNS pod's env.
const kubeDNSRecordsEnv = "PALISADE_DNS_RECORDS"

// Names of the built-in runtimes, as passed to Run.
const (
	BuiltinNginx    = "nginx"
	BuiltinHelloApp = "hello-app"
	BuiltinJSONMock = "json-mock"
	BuiltinMySQL    = "mysql"
	BuiltinAgnhost  = "agnhost"
	BuiltinPause    = "pause"
	BuiltinKubeDNS  = "kube-dns"
	// BuiltinWget is not an image: it is the toolbox's wget, started through
	// a wrapper script InstallToolbox writes.
	BuiltinWget = "wget"
	// BuiltinCurl is the toolbox's curl for images whose curl words its
	// errors like an older release (see curlCompatEnv).
	BuiltinCurl = "curl"
)

// Defaults when an image tag does not spell out a full version.
const (
	defaultNginxVersion   = "1.27.3"
	defaultMariaDBVersion = "11.4.2"
	defaultMySQLVersion   = "8.4.3"
	defaultHelloVersion   = "1.0.0"
)

// imageSpec describes one emulated image: its OCI config (entrypoint, CMD,
// ENV) and how the lab runs it.
type imageSpec struct {
	short    string // name in error messages
	pattern  string // what Supported prints
	describe string
	// paths are the repository paths (registry and "library/" stripped)
	// this spec matches.
	paths      []string
	entrypoint []string
	cmd        []string
	env        []string
	builtin    string
	// registry, when set, must match too: lab-internal images live under a
	// registry no user image has.
	registry string
	// hidden keeps lab-internal images out of Supported and error lists.
	hidden bool
	// shell says the image ships a shell and the usual tools, so any other
	// command runs from the toolbox instead of failing.
	shell bool
	// unwrap removes the image's entrypoint script, which execs its
	// arguments after some set-up.
	unwrap func(argv []string) []string
	// own reports whether argv starts the image's own program, and returns
	// that program's arguments.
	own func(argv []string) ([]string, bool)
	// build makes the builtin plan from the program's arguments.
	build func(ref imageRef, image string, args, env []string) (Plan, error)
}

func (s *imageSpec) plan(ref imageRef, image string, argv, env []string) (Plan, error) {
	if s.unwrap != nil {
		argv = s.unwrap(argv)
	}
	if len(argv) == 0 {
		return Plan{}, fmt.Errorf("image %q: no command specified", image)
	}
	if s.own != nil {
		if rest, ok := s.own(argv); ok {
			return s.builtinPlan(ref, image, rest, env)
		}
	}
	if !s.shell {
		return Plan{}, &NotFoundError{Image: image, Command: argv[0]}
	}
	return Plan{Argv: toolboxArgv(argv), Env: env}, nil
}

func (s *imageSpec) builtinPlan(ref imageRef, image string, args, env []string) (Plan, error) {
	p, err := s.build(ref, image, args, env)
	if err != nil {
		return Plan{}, err
	}
	p.Builtin = s.builtin
	p.Env = env
	return p, nil
}

// catalog is a function rather than a package variable so nothing can
// mutate the table between calls.
func catalog() []imageSpec {
	return []imageSpec{
		{
			short:    "busybox",
			pattern:  "busybox[:TAG]",
			describe: "command/args run with the host's busybox applets (default CMD sh)",
			paths:    []string{"busybox", "e2e-test-images/busybox", "google-containers/busybox", "google_containers/busybox"},
			cmd:      []string{"sh"},
			shell:    true,
		},
		{
			short:    "alpine",
			pattern:  "alpine[:TAG]",
			describe: "command/args run with busybox applets, netcat-openbsd nc and curl (default CMD /bin/sh)",
			paths:    []string{"alpine"},
			cmd:      []string{"/bin/sh"},
			shell:    true,
		},
		{
			short:      "byrnedo/alpine-curl",
			pattern:    "docker.io/byrnedo/alpine-curl[:TAG]",
			describe:   "ENTRYPOINT /usr/bin/curl; command/args run with the toolbox",
			paths:      []string{"byrnedo/alpine-curl"},
			entrypoint: []string{"/usr/bin/curl"},
			// 0.1.8 is Alpine 3.9's curl 7.64.
			env:   []string{curlCompatEnv + "=7"},
			shell: true,
		},
		{
			short:      "curlimages/curl",
			pattern:    "curlimages/curl[:TAG]",
			describe:   "ENTRYPOINT /entrypoint.sh, CMD curl (args starting with - go to curl)",
			paths:      []string{"curlimages/curl", "curl/curl"},
			entrypoint: []string{"/entrypoint.sh"},
			cmd:        []string{"curl"},
			shell:      true,
			unwrap:     unwrapCurlEntrypoint,
		},
		{
			short:      "nginx",
			pattern:    "nginx[:TAG]",
			describe:   "HTTP on 80: the nginx welcome page, access log on stdout",
			paths:      []string{"nginx", "e2e-test-images/nginx"},
			entrypoint: []string{"/docker-entrypoint.sh"},
			cmd:        []string{"nginx", "-g", "daemon off;"},
			builtin:    BuiltinNginx,
			shell:      true,
			unwrap:     unwrapExecScript([]string{"nginx", "-g", "daemon off;"}, "", "/docker-entrypoint.sh", "docker-entrypoint.sh"),
			own:        ownProgram("nginx", "/usr/sbin/nginx", "nginx-debug", "/usr/sbin/nginx-debug"),
			build:      buildNginx,
		},
		{
			short:    "gcr.io/google-samples/hello-app",
			pattern:  "gcr.io/google-samples/hello-app:TAG",
			describe: "HTTP on $PORT (8080): \"Hello, world!\", version from the tag, hostname",
			paths:    []string{"google-samples/hello-app", "google-samples/containers/gke/hello-app"},
			cmd:      []string{"./hello-app"},
			env:      []string{"PORT=8080"},
			builtin:  BuiltinHelloApp,
			shell:    true,
			own:      ownProgram("./hello-app", "/hello-app", "hello-app"),
			build:    buildHelloApp,
		},
		{
			short:      "cilium/json-mock",
			pattern:    "docker.io/cilium/json-mock[:TAG]",
			describe:   "json-server on $PORT (80): JSON resources, home page, HEAD",
			paths:      []string{"cilium/json-mock"},
			entrypoint: []string{"bash", "/run.sh"},
			builtin:    BuiltinJSONMock,
			shell:      true,
			own:        ownJSONMock,
			build:      buildJSONMock,
		},
		{
			short:      "mariadb",
			pattern:    "mariadb[:TAG]",
			describe:   "MySQL protocol on 3306: handshake, login, ping (queries are refused)",
			paths:      []string{"mariadb"},
			entrypoint: []string{"docker-entrypoint.sh"},
			cmd:        []string{"mariadbd"},
			builtin:    BuiltinMySQL,
			shell:      true,
			unwrap:     unwrapExecScript([]string{"mariadbd"}, "mariadbd", "docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh"),
			own:        ownProgram("mariadbd", "/usr/sbin/mariadbd", "/usr/bin/mariadbd", "mysqld", "/usr/sbin/mysqld"),
			build:      buildMySQL("mariadb"),
		},
		{
			short:      "mysql",
			pattern:    "mysql[:TAG]",
			describe:   "MySQL protocol on 3306: handshake, login, ping (queries are refused)",
			paths:      []string{"mysql", "mysql/mysql-server"},
			entrypoint: []string{"docker-entrypoint.sh"},
			cmd:        []string{"mysqld"},
			builtin:    BuiltinMySQL,
			shell:      true,
			unwrap:     unwrapExecScript([]string{"mysqld"}, "mysqld", "docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh", "/entrypoint.sh"),
			own:        ownProgram("mysqld", "/usr/sbin/mysqld"),
			build:      buildMySQL("mysql"),
		},
		{
			short:      "registry.k8s.io/e2e-test-images/agnhost",
			pattern:    "registry.k8s.io/e2e-test-images/agnhost:TAG",
			describe:   "subcommands porter, serve-hostname, netexec, connect, pause",
			paths:      []string{"e2e-test-images/agnhost", "kubernetes-e2e-test-images/agnhost", "agnhost"},
			entrypoint: []string{"/agnhost"},
			cmd:        []string{"pause"},
			builtin:    BuiltinAgnhost,
			shell:      true,
			unwrap:     unwrapShellC(ownProgram("/agnhost", "agnhost", "./agnhost", "/agnhost-2", "agnhost-2")),
			own:        ownProgram("/agnhost", "agnhost", "./agnhost", "/agnhost-2", "agnhost-2"),
			build:      buildAgnhost,
		},
		{
			short:      "palisade.local/kube-dns",
			pattern:    KubeDNSImage,
			describe:   "the lab's cluster DNS (records from $PALISADE_DNS_RECORDS)",
			registry:   "palisade.local",
			paths:      []string{"kube-dns"},
			entrypoint: []string{"/kube-dns"},
			builtin:    BuiltinKubeDNS,
			hidden:     true,
			own:        ownProgram("/kube-dns"),
			build:      buildKubeDNS,
		},
		{
			short:      "registry.k8s.io/pause",
			pattern:    "registry.k8s.io/pause[:TAG]",
			describe:   "sleeps until killed (the image has no shell)",
			paths:      []string{"pause", "google-containers/pause", "google_containers/pause", "pause-amd64", "google_containers/pause-amd64"},
			entrypoint: []string{"/pause"},
			builtin:    BuiltinPause,
			own:        ownProgram("/pause", "pause"),
			build:      func(imageRef, string, []string, []string) (Plan, error) { return Plan{}, nil },
		},
	}
}

// lookup parses an image reference and finds its spec.
func lookup(image string) (imageSpec, imageRef, error) {
	ref, err := parseRef(image)
	if err != nil {
		return imageSpec{}, imageRef{}, err
	}
	for _, s := range catalog() {
		if s.registry != "" && ref.registry != s.registry {
			continue
		}
		for _, p := range s.paths {
			if ref.path == p {
				return s, ref, nil
			}
		}
	}
	return imageSpec{}, imageRef{}, &UnsupportedError{Image: image}
}

// ownProgram matches argv[0] against the spellings of the image's program.
func ownProgram(names ...string) func([]string) ([]string, bool) {
	return func(argv []string) ([]string, bool) {
		for _, n := range names {
			if argv[0] == n {
				return argv[1:], true
			}
		}
		return nil, false
	}
}

// unwrapExecScript removes a docker-entrypoint.sh-style script. With no
// arguments the script runs def; when dashProgram is set, arguments that start
// with "-" are flags for that program, as the mariadb and mysql scripts do.
func unwrapExecScript(def []string, dashProgram string, scripts ...string) func([]string) []string {
	return func(argv []string) []string {
		if len(argv) == 0 {
			return argv
		}
		for _, s := range scripts {
			if argv[0] != s {
				continue
			}
			rest := argv[1:]
			if len(rest) == 0 {
				return append([]string(nil), def...)
			}
			if dashProgram != "" && strings.HasPrefix(rest[0], "-") {
				return append([]string{dashProgram}, rest...)
			}
			return rest
		}
		return argv
	}
}

// unwrapShellC reads `/bin/bash -c "/agnhost serve-hostname --port 80"`
// (network-policy-api's conformance manifests start agnhost so) as the
// command the shell would run: a script that is one simple command of the
// image's own program, with nothing for a shell to interpret but spaces
// (an optional leading exec included). Any other script is left to the
// toolbox shell.
func unwrapShellC(own func([]string) ([]string, bool)) func([]string) []string {
	return func(argv []string) []string {
		if len(argv) != 3 || argv[1] != "-c" {
			return argv
		}
		switch argv[0] {
		case "/bin/sh", "/bin/bash", "sh", "bash", "/usr/bin/bash":
		default:
			return argv
		}
		if strings.ContainsAny(argv[2], ";&|<>()$`'\"\\*?[]{}~#\n") {
			return argv
		}
		fields := strings.Fields(argv[2])
		if len(fields) > 0 && fields[0] == "exec" {
			fields = fields[1:]
		}
		if _, ok := own(fields); !ok {
			return argv
		}
		return fields
	}
}

// unwrapCurlEntrypoint follows curlimages/curl's /entrypoint.sh: arguments
// that start with "-" or are not a command go to curl.
func unwrapCurlEntrypoint(argv []string) []string {
	if len(argv) == 0 || (argv[0] != "/entrypoint.sh" && argv[0] != "entrypoint.sh") {
		return argv
	}
	rest := argv[1:]
	if len(rest) == 0 {
		return []string{"curl"}
	}
	if strings.HasPrefix(rest[0], "-") || !looksLikeCommand(rest[0]) {
		return append([]string{"curl"}, rest...)
	}
	return rest
}

// looksLikeCommand stands in for the script's `command -v`: the toolbox is
// not known at resolve time, so it uses the names an Alpine image has.
func looksLikeCommand(s string) bool {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") {
		return true
	}
	for _, n := range strings.Fields(alpineCommands) {
		if s == n {
			return true
		}
	}
	return false
}

// alpineCommands are the commands of an Alpine-based curl image: busybox
// applets plus curl.
const alpineCommands = `[ [[ arch ash awk base64 basename bc cat chgrp chmod chown cp cut date dd df diff
dirname dmesg du echo egrep env expr false fgrep find free getopt grep gunzip gzip head
hexdump hostname id ip ipcalc kill killall less ln ls md5sum mkdir mktemp more mv nc
netstat nice nohup nslookup od pgrep ping ping6 pkill printenv printf ps pwd readlink
realpath rm rmdir sed seq sh sha1sum sha256sum sleep sort stat strings tac tail tar tee
telnet test time timeout top touch tr traceroute true uname uniq unzip uptime vi watch wc
wget which whoami xargs yes zcat curl bash`

func ownJSONMock(argv []string) ([]string, bool) {
	switch {
	case len(argv) >= 2 && path.Base(argv[0]) == "bash" && argv[1] == "/run.sh":
		return argv[2:], true
	case argv[0] == "/run.sh" || argv[0] == "json-server":
		return argv[1:], true
	}
	return nil, false
}

func buildKubeDNS(_ imageRef, image string, _, env []string) (Plan, error) {
	records, _ := getenv(env, kubeDNSRecordsEnv)
	if records == "" {
		return Plan{}, fmt.Errorf("image %q needs $%s (the records file)", image, kubeDNSRecordsEnv)
	}
	p := KubeDNSPlan(records)
	return p, nil
}

func buildNginx(ref imageRef, _ string, _, _ []string) (Plan, error) {
	v := defaultNginxVersion
	if full, ok := fullVersion(ref.tag); ok {
		v = full
	}
	return Plan{
		Args:    []string{"--palisade-version", v},
		Listens: []Listen{{Port: 80, Protocol: corev1.ProtocolTCP}},
	}, nil
}

func buildHelloApp(ref imageRef, _ string, _, env []string) (Plan, error) {
	p := Plan{Args: []string{"--palisade-version", helloVersion(ref.tag)}}
	port, _ := getenv(env, "PORT")
	if port == "" {
		port = "8080"
	}
	if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
		p.Listens = []Listen{{Port: int32(n), Protocol: corev1.ProtocolTCP}}
	}
	return p, nil
}

func buildJSONMock(_ imageRef, _ string, _, env []string) (Plan, error) {
	p := Plan{}
	if n, ok := jsonMockPort(env); ok {
		p.Listens = []Listen{{Port: int32(n), Protocol: corev1.ProtocolTCP}}
	}
	return p, nil
}

// jsonMockPort follows the image's run.sh: $PORT, or 80.
func jsonMockPort(env []string) (int, bool) {
	port, _ := getenv(env, "PORT")
	if port == "" {
		return 80, true
	}
	n, err := strconv.Atoi(port)
	return n, err == nil && n > 0 && n < 65536
}

func buildMySQL(flavor string) func(imageRef, string, []string, []string) (Plan, error) {
	return func(ref imageRef, _ string, args, _ []string) (Plan, error) {
		v := defaultMariaDBVersion
		if flavor == "mysql" {
			v = defaultMySQLVersion
		}
		if full, ok := fullVersion(ref.tag); ok {
			v = full
		}
		p := Plan{Args: append([]string{"--palisade-flavor", flavor, "--palisade-version", v}, args...)}
		if port, ok := mysqldPort(args); ok {
			p.Listens = []Listen{{Port: int32(port), Protocol: corev1.ProtocolTCP}}
		}
		return p, nil
	}
}

func buildAgnhost(_ imageRef, image string, args, env []string) (Plan, error) {
	p := Plan{Args: append([]string(nil), args...)}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return p, nil
	}
	switch args[0] {
	case "porter", "serve-hostname", "netexec", "connect", "pause":
	default:
		return Plan{}, &UnsupportedError{
			Image:  image,
			Reason: fmt.Sprintf("agnhost subcommand %q is not emulated (emulated: porter, serve-hostname, netexec, connect, pause)", args[0]),
		}
	}
	p.Listens = agnhostListens(args[0], args[1:], env)
	return p, nil
}

// fullVersion accepts tags like 1.27.3 and 11.4.2-noble.
func fullVersion(tag string) (string, bool) {
	v, _, _ := strings.Cut(tag, "-")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "", false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return "", false
		}
	}
	return v, true
}

// helloVersion turns hello-app's tag (1.0, 2.0) into the version its body
// prints (1.0.0, 2.0.0).
func helloVersion(tag string) string {
	if v, ok := fullVersion(tag); ok {
		return v
	}
	parts := strings.Split(tag, ".")
	if len(parts) == 2 {
		if _, err := strconv.Atoi(parts[0]); err == nil {
			if _, err := strconv.Atoi(parts[1]); err == nil {
				return tag + ".0"
			}
		}
	}
	return defaultHelloVersion
}
