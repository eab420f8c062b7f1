package lab

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/lab/images"
	"github.com/palisade-net/palisade/internal/lab/kubelet"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/validation"
)

// Daemon serves one lab: it owns the state, supervises the pods' processes
// and answers the CLI on a unix socket.
type Daemon struct {
	c       *Controller
	paths   Paths
	saved   [32]byte
	server  *http.Server
	denials *denialLog
}

// NewDaemon loads (or creates) the lab in dir. When the lab's namespaces
// do not exist yet (first start, or after a reboot) they are built.
func NewDaemon(dir string, cfg *state.Config, log *slog.Logger) (*Daemon, error) {
	paths := Paths{Dir: dir}
	st, err := state.Load(dir)
	if errors.Is(err, state.ErrNoLab) {
		if cfg == nil {
			return nil, err
		}
		st = state.New(*cfg)
	} else if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &Controller{paths: paths, st: st, self: self, log: log, exited: make(chan exit, 64),
		clock: time.Now, tombstones: map[string]bool{}, policySyncers: map[string]*dataplane.Syncer{}, freshAddrs: map[string][]netip.Addr{}}
	c.kubelet = &kubelet.Kubelet{Self: self, Files: paths.podFiles(), Log: log, CNI: cniKubelet(st.Config, paths)}
	if st.Config.KubeProxy == "" {
		// Otherwise kube-proxy programs the nodes' services.
		c.syncers = append(c.syncers, c.syncServices)
	}
	c.syncers = append(c.syncers, c.syncDNS)
	if st.Config.Enforcement != state.EnforcementExternal {
		c.syncers = append(c.syncers, c.syncPolicy)
	}
	d := &Daemon{c: c, paths: paths, denials: newDenialLog()}
	if err := d.bootstrap(); err != nil {
		return nil, err
	}
	return d, nil
}

// bootstrap builds the nodes and the system pods once, and adopts the
// processes of a previous daemon otherwise.
func (d *Daemon) bootstrap() error {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := images.InstallToolbox(d.paths.Toolbox(), PodSelf); err != nil {
		return fmt.Errorf("toolbox: %w", err)
	}
	if !c.st.Started {
		c.st.Nodes = planNodes(c.st.Config.Name, c.st.Config.Nodes)
		if err := buildNodes(c.st.Config, c.st.Nodes); err != nil {
			return fmt.Errorf("building nodes: %w", err)
		}
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			c.ensureNamespace(ns)
		}
		c.installDNS()
		c.st.Started = true
	} else {
		c.adopt()
	}
	if c.st.Config.APIServer {
		// The API server says what runs (startAPIMode); the lab's own
		// workloads (coredns) are written there, not run from here.
		return d.save()
	}
	if err := c.reconcile(); err != nil {
		return err
	}
	return d.save()
}

// installDNS adds the resolver pod and its service, as a cluster's
// bootstrap would; they are ordinary lab objects.
func (c *Controller) installDNS() {
	labels := map[string]string{"k8s-app": "kube-dns"}
	one := int32(1)
	c.st.Deployments[state.Key("kube-system", "coredns")] = &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system", Labels: labels, Generation: 1,
			CreationTimestamp: c.now(), UID: newUID("Deployment", "kube-system", "coredns", c.clock())},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "coredns",
					Image: KubeDNSImage,
					Ports: []corev1.ContainerPort{
						{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
						{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
					},
				}}},
			},
		},
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", Labels: labels, CreationTimestamp: c.now(), UID: newUID("Service", "kube-system", "kube-dns", c.clock())},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
		}},
	}
	validation.Default(svc)
	c.allocClusterIP(svc)
	c.st.Services[state.Key("kube-system", "kube-dns")] = svc
}

// adopt re-attaches to processes a previous daemon started: they were not
// our children, so we watch them by PID, checking they still live in the
// pod's namespace (a recycled PID is not ours).
func (c *Controller) adopt() {
	c.collectOrphans()
	for key, rt := range c.st.Runtime {
		ino, _ := plumbing.NetnsInode(plumbing.NetnsPath(rt.Netns))
		for _, cr := range rt.Containers {
			if cr.PID == 0 {
				continue
			}
			if !alive(cr.PID) || processNetns(cr.PID) != ino {
				code := int32(137)
				c.exited <- exit{pod: key, container: cr.Name, pid: cr.PID, code: code}
				continue
			}
			go c.watchPID(key, cr.Name, cr.PID)
		}
	}
}

// collectOrphans removes the pod namespaces, and every process in them,
// that the state does not know: a daemon killed in the middle of a request
// had started them after its last save. Node namespaces are left alone:
// their processes (hostNetwork containers, exec sessions) cannot be told
// from ones the state knows by namespace alone.
func (c *Controller) collectOrphans() {
	nss, err := plumbing.ListNetns(Prefix(c.st.Config.Name) + "p")
	if err != nil {
		c.log.Error("list pod namespaces", "err", err)
		return
	}
	known := map[string]bool{}
	for _, rt := range c.st.Runtime {
		known[rt.Netns] = true
	}
	inodes := map[uint64]bool{}
	var orphans []string
	for _, ns := range nss {
		if known[ns] {
			continue
		}
		orphans = append(orphans, ns)
		if ino, err := plumbing.NetnsInode(plumbing.NetnsPath(ns)); err == nil {
			inodes[ino] = true
		}
	}
	if len(orphans) == 0 {
		return
	}
	killed := killProcessesIn(inodes)
	for _, ns := range orphans {
		if err := plumbing.DeleteNetns(ns); err != nil {
			c.log.Error("delete orphaned pod namespace", "netns", ns, "err", err)
		}
	}
	c.log.Info("removed what a previous daemon had begun and not recorded", "namespaces", len(orphans), "processes", killed)
}

func (c *Controller) watchPID(pod, container string, pid int) {
	for alive(pid) {
		time.Sleep(250 * time.Millisecond)
	}
	c.exited <- exit{pod: pod, container: container, pid: pid, code: 137}
}

func processNetns(pid int) uint64 {
	ino, err := plumbing.NetnsInode(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return 0
	}
	return ino
}

// save persists the state when it changed.
func (d *Daemon) save() error {
	b, err := json.Marshal(d.c.st)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	if sum == d.saved {
		return nil
	}
	if err := d.c.st.Save(d.paths.Dir); err != nil {
		return err
	}
	b, _ = json.Marshal(d.c.st)
	d.saved = sha256.Sum256(b)
	return nil
}

// Serve answers the CLI until ctx ends, supervising processes meanwhile.
func (d *Daemon) Serve(ctx context.Context) error {
	_ = os.Remove(d.paths.Socket())
	ln, err := net.Listen("unix", d.paths.Socket())
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.paths.PIDFile(), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	d.startDenials(ctx)
	if d.c.st.Config.APIServer {
		if err := d.startAPIMode(ctx); err != nil {
			return fmt.Errorf("api-server mode: %w", err)
		}
	}
	mux := http.NewServeMux()
	d.routes(mux)
	d.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.server.Serve(ln) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = d.server.Shutdown(shut)
			cancel()
			d.c.mu.Lock()
			err := d.save()
			d.c.mu.Unlock()
			return err
		case e := <-d.c.exited:
			d.c.mu.Lock()
			d.c.handleExit(e)
			d.c.mu.Unlock()
		case <-tick.C:
			// An idle lab must cost nothing: the tick only looks at pods
			// that are coming up or restarting; everything else waits for
			// an event (an API call or a process exit).
			d.c.mu.Lock()
			changed := d.c.refresh()
			d.c.mu.Unlock()
			if !changed {
				continue
			}
		}
		d.c.mu.Lock()
		if err := d.c.reconcile(); err != nil {
			d.c.log.Error("reconcile", "err", err)
		}
		if err := d.save(); err != nil {
			d.c.log.Error("save state", "err", err)
		}
		d.c.mu.Unlock()
	}
}

// writeThrough are the verbs API-server mode sends to the API server.
var writeThrough = map[string]func(a *apiNode, body []byte) Response{
	"/apply": func(a *apiNode, b []byte) Response {
		var req ApplyRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return Response{Error: err.Error()}
		}
		return a.apply(req)
	},
	"/delete": func(a *apiNode, b []byte) Response {
		var req []DeleteRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return Response{Error: err.Error()}
		}
		return a.delete(req)
	},
	"/label": func(a *apiNode, b []byte) Response {
		var req LabelRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return Response{Error: err.Error()}
		}
		return a.label(req)
	},
}

func (d *Daemon) routes(mux *http.ServeMux) {
	handle := func(path string, fn func(body []byte) Response) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			body := make([]byte, 0, 4096)
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Body.Read(buf)
				body = append(body, buf[:n]...)
				if err != nil {
					break
				}
			}
			if a := d.c.api; a != nil && writeThrough[path] != nil {
				// On an API server the verbs write through it, without the
				// lock: the node side takes the result from its informers.
				resp := writeThrough[path](a, body)
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(resp)
				return
			}
			d.c.mu.Lock()
			resp := fn(body)
			if err := d.save(); err != nil && resp.Error == "" {
				resp.Error = "error: saving lab state: " + err.Error()
			}
			d.c.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(resp)
		})
	}
	handle("/apply", func(b []byte) Response {
		var req ApplyRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return Response{Error: err.Error()}
		}
		return d.c.Apply(req)
	})
	handle("/delete", func(b []byte) Response {
		var req []DeleteRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return Response{Error: err.Error()}
		}
		return d.c.Delete(req)
	})
	handle("/label", func(b []byte) Response {
		var req LabelRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return Response{Error: err.Error()}
		}
		return d.c.Label(req)
	})
	handle("/patch", func(b []byte) Response {
		var req PatchRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return Response{Error: err.Error()}
		}
		return d.c.Patch(req)
	})
	handle("/attached-exit", func(b []byte) Response {
		// The CLI ran an interactive container itself; it reports the end.
		var req struct {
			Pod  string `json:"pod"`
			Code int32  `json:"code"`
		}
		if err := json.Unmarshal(b, &req); err != nil {
			return Response{Error: err.Error()}
		}
		if rt := d.c.st.Runtime[req.Pod]; rt != nil && len(rt.Containers) > 0 {
			code := req.Code
			rt.Containers[0].ExitCode = &code
			rt.Interactive = false
		}
		return Response{}
	})
	mux.HandleFunc("GET /denials", d.serveDenials)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
}
