package agent

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/util/workqueue"

	"github.com/palisade-net/palisade/internal/policy"
)

// metrics live on a registry of the agent's own, so that two agents in one
// process (tests) do not collide and nothing leaks into a global default.
type metrics struct {
	reg          *prometheus.Registry
	syncDuration *prometheus.HistogramVec
	programmed   prometheus.Histogram
	rules        prometheus.Gauge
	elements     prometheus.Gauge
	pods         prometheus.Gauge
	unsynced     prometheus.Gauge
	denied       *prometheus.CounterVec
	syncErrors   prometheus.Counter
	cut          prometheus.Counter
	cutErrors    prometheus.Counter
	cutDuration  prometheus.Histogram
	datapath     *prometheus.GaugeVec
	// cnpUnsupported counts the ClusterNetworkPolicy rules of the node's
	// pods the table cannot enforce as written.
	cnpUnsupported *prometheus.GaugeVec
}

func newMetrics() *metrics {
	// 1 ms to 16 s: a partial sync takes milliseconds, a first full sync
	// of a large cluster seconds.
	buckets := prometheus.ExponentialBuckets(0.001, 2, 15)
	m := &metrics{
		reg: prometheus.NewRegistry(),
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "palisade_sync_duration_seconds", Buckets: buckets,
			Help: "Time to compute and apply one nftables sync; mode is full, partial or unchanged.",
		}, []string{"mode"}),
		programmed: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "palisade_event_to_programmed_seconds", Buckets: buckets,
			Help: "Time from an informer event (pod, namespace or policy change) to the kernel enforcing it.",
		}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_rules", Help: "nftables rules in the policy table after the last sync.",
		}),
		elements: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_set_elements", Help: "Set and map elements in the policy table after the last sync.",
		}),
		pods: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_isolated_pods", Help: "Pods of this node that at least one policy isolates.",
		}),
		unsynced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_unsynced_pods",
			Help: "Pods of this node that policies isolate but that have no address yet; while above 0 with --new-pods=fail-closed, unknown addresses of --pod-cidr are denied.",
		}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_denied_packets_total",
			Help: "Packets that tried to open a connection a policy denies (or would deny, in audit mode), by direction.",
		}, []string{"direction"}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palisade_sync_errors_total", Help: "Syncs the kernel refused or that failed; each is retried with backoff.",
		}),
		cut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palisade_conntrack_cut_total",
			Help: "Established connections cut (their conntrack entries deleted) because a policy change denies them (strict mode).",
		}),
		cutErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palisade_conntrack_cut_errors_total", Help: "Conntrack sweeps after a sync that failed; the connections they missed live on until the next.",
		}),
		cutDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "palisade_conntrack_cut_duration_seconds", Buckets: buckets,
			Help: "Time to find and delete, after a sync that changed the table, the conntrack entries it now denies.",
		}),
		datapath: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palisade_agent_datapath_unsupported",
			Help: "1 while pod traffic takes a path the policy table cannot see (the agent is then not ready), by reason: bridge-without-br-netfilter, bridge-nf-call-iptables-off, bridge-nf-call-ip6tables-off, kube-proxy-ipvs.",
		}, []string{"reason"}),
		cnpUnsupported: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palisade_agent_clusternetworkpolicy_unsupported",
			Help: "ClusterNetworkPolicy rules of this node's pods the table cannot enforce as written (the agent is then not ready), by reason: domain-names (needs DNS), nodes (the agent watches no Node objects).",
		}, []string{"reason"}),
	}
	for _, r := range []string{policy.GapDomainNames, policy.GapNodes} {
		m.cnpUnsupported.WithLabelValues(r) // present at 0 from the start
	}
	m.reg.MustRegister(m.syncDuration, m.programmed, m.rules, m.elements, m.pods, m.unsynced, m.denied, m.syncErrors,
		m.cut, m.cutErrors, m.cutDuration, m.datapath, m.cnpUnsupported,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, d := range []string{"ingress", "egress"} {
		m.denied.WithLabelValues(d) // present at 0 from the start, so rate() works
	}
	return m
}

// queueMetrics gives the agent's workqueue the metrics client-go's
// controllers export (workqueue_depth, _adds_total, _queue_duration_seconds,
// _work_duration_seconds, _retries_total, ...), on the agent's registry.
// Only one key is ever queued, so adds count the syncs events asked for
// and retries the syncs that failed; the queue's latency is the time a
// wanted sync waits for its turn.
type queueMetrics struct{ reg *prometheus.Registry }

func (q queueMetrics) gauge(name, help, queue string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Subsystem: "workqueue", Name: name, Help: help, ConstLabels: prometheus.Labels{"name": queue}})
	q.reg.MustRegister(g)
	return g
}

func (q queueMetrics) counter(name, help, queue string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Subsystem: "workqueue", Name: name, Help: help, ConstLabels: prometheus.Labels{"name": queue}})
	q.reg.MustRegister(c)
	return c
}

func (q queueMetrics) histogram(name, help, queue string) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Subsystem: "workqueue", Name: name, Help: help,
		ConstLabels: prometheus.Labels{"name": queue}, Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)})
	q.reg.MustRegister(h)
	return h
}

func (q queueMetrics) NewDepthMetric(n string) workqueue.GaugeMetric {
	return q.gauge("depth", "Current depth of the workqueue.", n)
}

func (q queueMetrics) NewAddsMetric(n string) workqueue.CounterMetric {
	return q.counter("adds_total", "Adds handled by the workqueue.", n)
}

func (q queueMetrics) NewLatencyMetric(n string) workqueue.HistogramMetric {
	return q.histogram("queue_duration_seconds", "How long an item stays in the workqueue before being processed.", n)
}

func (q queueMetrics) NewWorkDurationMetric(n string) workqueue.HistogramMetric {
	return q.histogram("work_duration_seconds", "How long processing an item from the workqueue takes.", n)
}

func (q queueMetrics) NewUnfinishedWorkSecondsMetric(n string) workqueue.SettableGaugeMetric {
	return q.gauge("unfinished_work_seconds", "Seconds of work in progress not yet observed by work_duration.", n)
}

func (q queueMetrics) NewLongestRunningProcessorSecondsMetric(n string) workqueue.SettableGaugeMetric {
	return q.gauge("longest_running_processor_seconds", "Seconds the longest running processor has been running.", n)
}

func (q queueMetrics) NewRetriesMetric(n string) workqueue.CounterMetric {
	return q.counter("retries_total", "Retries handled by the workqueue.", n)
}

// stuckAfter is how long one sync may run before /healthz reports the
// agent wedged (an nft process that never returns); the kubelet then
// restarts it, and the table stays in force meanwhile.
const stuckAfter = 2 * time.Minute

// Handler serves /metrics, /healthz and /readyz.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{Registry: a.metrics.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if since := a.busySince.Load(); since != 0 {
			if d := time.Since(time.Unix(0, since)); d > stuckAfter {
				http.Error(w, fmt.Sprintf("a sync has been running for %v", d.Round(time.Second)), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := a.notReady(); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
