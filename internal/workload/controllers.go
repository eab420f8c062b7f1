package workload

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Label and annotation keys the controllers set (k8s.io/api constants where
// they exist).
const (
	podTemplateGenerationKey = "pod-template-generation"
	deprecatedTemplateGen    = "deprecated.daemonset.template.generation"
	revisionAnnotation       = "deployment.kubernetes.io/revision"
	desiredReplicasAnno      = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnno          = "deployment.kubernetes.io/max-replicas"
	completionIndexEnvName   = "JOB_COMPLETION_INDEX"
	// The pre-1.27 label names, which the API server still adds.
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// Deployment annotations the deployment controller does not copy to its
// ReplicaSets (deploymentutil.annotationsToSkip).
var skipDeploymentAnnotations = map[string]bool{
	corev1.LastAppliedConfigAnnotation:          true,
	revisionAnnotation:                          true,
	"deployment.kubernetes.io/revision-history": true,
	desiredReplicasAnno:                         true,
	maxReplicasAnno:                             true,
	"deprecated.deployment.rollback.to":         true,
}

func expandDeployment(d *appsv1.Deployment, opts Options) (*Expansion, error) {
	errs := validateName(&d.ObjectMeta)
	errs = append(errs, validateNonNegative(d.Spec.Replicas, field.NewPath("spec", "replicas"))...)
	errs = append(errs, validateSelector(d.Spec.Selector, &d.Spec.Template, "deployment", "invalid label selector")...)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	// A Deployment created paused gets no ReplicaSet: the controller only
	// syncs existing ReplicaSets while paused.
	if d.Spec.Paused {
		return &Expansion{}, nil
	}

	// As getNewReplicaSet: hash the template, name the ReplicaSet after it,
	// and add the hash to the ReplicaSet's labels, selector and template.
	hash := computeHash(&d.Spec.Template, d.Status.CollisionCount)
	template := *d.Spec.Template.DeepCopy()
	template.Labels = withLabel(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	selector := d.Spec.Selector.DeepCopy()
	selector.MatchLabels = withLabel(selector.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	n := replicas(d.Spec.Replicas)

	annotations := map[string]string{}
	for k, v := range d.Annotations {
		if !skipDeploymentAnnotations[k] {
			annotations[k] = v
		}
	}
	annotations[revisionAnnotation] = "1"
	annotations[desiredReplicasAnno] = strconv.Itoa(int(n))
	annotations[maxReplicasAnno] = strconv.Itoa(int(n + maxSurge(d, n)))

	rs := &appsv1.ReplicaSet{
		TypeMeta: metav1.TypeMeta{APIVersion: replicaSetGVK.GroupVersion().String(), Kind: replicaSetGVK.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          copyMap(template.Labels),
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*controllerRef(d, deploymentGVK)},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &n,
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	pods, err := expandReplicaSet(rs, opts)
	if err != nil {
		return nil, err
	}
	return &Expansion{ReplicaSet: rs, Pods: pods}, nil
}

// maxSurge is deploymentutil.MaxSurge on the defaulted strategy
// (RollingUpdate, maxSurge 25%, rounded up).
func maxSurge(d *appsv1.Deployment, n int32) int32 {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	surge := intstr.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
		surge = *ru.MaxSurge
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(&surge, int(n), true)
	if err != nil {
		return 0
	}
	return int32(v)
}

func expandReplicaSet(rs *appsv1.ReplicaSet, opts Options) ([]*corev1.Pod, error) {
	errs := validateName(&rs.ObjectMeta)
	errs = append(errs, validateNonNegative(rs.Spec.Replicas, field.NewPath("spec", "replicas"))...)
	errs = append(errs, validateSelector(rs.Spec.Selector, &rs.Spec.Template, "deployment", "invalid label selector")...)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	ref := controllerRef(rs, replicaSetGVK)
	names := newNamer("ReplicaSet/"+rs.Namespace+"/"+rs.Name, opts.Seed)
	prefix := rs.Name + "-"
	var pods []*corev1.Pod
	for i := range int(replicas(rs.Spec.Replicas)) {
		pods = append(pods, podFromTemplate(&rs.Spec.Template, rs.Namespace, names.name(prefix, strconv.Itoa(i)), prefix, ref))
	}
	return pods, nil
}

func expandStatefulSet(set *appsv1.StatefulSet) ([]*corev1.Pod, error) {
	errs := validateName(&set.ObjectMeta)
	errs = append(errs, validateNonNegative(set.Spec.Replicas, field.NewPath("spec", "replicas"))...)
	start := 0
	if set.Spec.Ordinals != nil {
		errs = append(errs, validateNonNegative(&set.Spec.Ordinals.Start, field.NewPath("spec", "ordinals.start"))...)
		start = int(set.Spec.Ordinals.Start)
	}
	errs = append(errs, validateSelector(set.Spec.Selector, &set.Spec.Template, "statefulset", "")...)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	hash, err := controllerRevisionHash(&set.Spec.Template, set.Status.CollisionCount)
	if err != nil {
		return nil, err
	}
	revision := controllerRevisionName(set.Name, hash)
	ref := controllerRef(set, statefulSetGVK)

	var pods []*corev1.Pod
	for ordinal := start; ordinal < start+int(replicas(set.Spec.Replicas)); ordinal++ {
		// newStatefulSetPod: a stable name and identity per ordinal.
		name := fmt.Sprintf("%s-%d", set.Name, ordinal)
		pod := podFromTemplate(&set.Spec.Template, set.Namespace, name, "", ref)
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels[appsv1.StatefulSetPodNameLabel] = name
		pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
		pod.Labels[appsv1.StatefulSetRevisionLabel] = revision
		pod.Spec.Hostname = name
		pod.Spec.Subdomain = set.Spec.ServiceName
		addClaimVolumes(set, pod, ordinal)
		pods = append(pods, pod)
	}
	return pods, nil
}

// addClaimVolumes is updateStorage: one PVC volume per claim template,
// replacing a template volume of the same name, in a fixed order (upstream
// iterates a map).
func addClaimVolumes(set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) {
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		return
	}
	claims := map[string]bool{}
	var vols []corev1.Volume
	for _, c := range set.Spec.VolumeClaimTemplates {
		claims[c.Name] = true
		vols = append(vols, corev1.Volume{
			Name: c.Name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: fmt.Sprintf("%s-%s-%d", c.Name, set.Name, ordinal),
			}},
		})
	}
	sort.Slice(vols, func(i, j int) bool { return vols[i].Name < vols[j].Name })
	for _, v := range pod.Spec.Volumes {
		if !claims[v.Name] {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
}

func expandDaemonSet(ds *appsv1.DaemonSet, opts Options) ([]*corev1.Pod, error) {
	errs := validateName(&ds.ObjectMeta)
	errs = append(errs, validateSelector(ds.Spec.Selector, &ds.Spec.Template, "daemonset", "invalid label selector")...)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	// As CreatePodTemplate: daemon tolerations, the revision hash and the
	// template generation, which the API server sets to 1 on create.
	hash := computeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	template := ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&template.Spec)
	generation := "1"
	if g, ok := ds.Annotations[deprecatedTemplateGen]; ok {
		if _, err := strconv.ParseInt(g, 10, 64); err == nil {
			generation = g
		}
	}
	template.Labels = withLabel(template.Labels, podTemplateGenerationKey, generation)
	template.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash

	ref := controllerRef(ds, daemonSetGVK)
	names := newNamer("DaemonSet/"+ds.Namespace+"/"+ds.Name, opts.Seed)
	prefix := ds.Name + "-"
	nodes := opts.Nodes
	if nodes == nil {
		nodes = []string{""}
	}
	var pods []*corev1.Pod
	for _, node := range nodes {
		// Keyed by node, not position, so adding a node renames no pod.
		pod := podFromTemplate(template, ds.Namespace, names.name(prefix, "node/"+node), prefix, ref)
		if node != "" {
			pod.Spec.Affinity = nodeNameAffinity(pod.Spec.Affinity, node)
			// The scheduler's part: the affinity leaves it one choice.
			pod.Spec.NodeName = node
		}
		pods = append(pods, pod)
	}
	return pods, nil
}

// addDaemonTolerations is AddOrUpdateDaemonPodTolerations: daemon pods stay
// on nodes that are unready, unreachable or under pressure.
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := func(key string, effect corev1.TaintEffect) {
		t := corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect}
		for i := range spec.Tolerations {
			if spec.Tolerations[i].MatchToleration(&t) {
				spec.Tolerations[i] = t
				return
			}
		}
		spec.Tolerations = append(spec.Tolerations, t)
	}
	add(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	if spec.HostNetwork {
		add(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)
	}
}

// nodeNameAffinity is ReplaceDaemonSetPodNodeNameNodeAffinity: how the
// daemonset controller pins a pod to its node.
func nodeNameAffinity(affinity *corev1.Affinity, node string) *corev1.Affinity {
	term := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{
		Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node},
	}}}
	if affinity == nil {
		affinity = &corev1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	if affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = []corev1.NodeSelectorTerm{term}
	return affinity
}

func expandJob(job *batchv1.Job, opts Options) ([]*corev1.Pod, error) {
	spec := field.NewPath("spec")
	errs := validateName(&job.ObjectMeta)
	errs = append(errs, validateNonNegative(job.Spec.Parallelism, spec.Child("parallelism"))...)
	errs = append(errs, validateNonNegative(job.Spec.Completions, spec.Child("completions"))...)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	job = job.DeepCopy()
	if job.UID == "" {
		job.UID = uidFor(jobGVK.Kind, job.Namespace, job.Name)
	}
	// The API server generates the selector and the labels that go with it
	// (job strategy generateSelector) unless the user asked to choose.
	if job.Spec.ManualSelector == nil || !*job.Spec.ManualSelector {
		generateJobSelector(job)
	}
	if errs := validateJobSelector(job.Spec.Selector, &job.Spec.Template); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if job.Spec.Suspend != nil && *job.Spec.Suspend {
		return nil, nil
	}

	// The job controller keeps min(parallelism, completions) pods active,
	// parallelism defaulting to 1.
	active := int32(1)
	if job.Spec.Parallelism != nil {
		active = *job.Spec.Parallelism
	}
	if job.Spec.Completions != nil {
		active = min(active, *job.Spec.Completions)
	}
	indexed := job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
	template := job.Spec.Template.DeepCopy()
	if indexed {
		addCompletionIndexEnv(template)
	}
	ref := controllerRef(job, jobGVK)
	names := newNamer("Job/"+job.Namespace+"/"+job.Name, opts.Seed)
	var pods []*corev1.Pod
	for i := range int(active) {
		t, prefix := template, job.Name+"-"
		if indexed {
			t = template.DeepCopy()
			idx := strconv.Itoa(i)
			t.Annotations = withLabel(t.Annotations, batchv1.JobCompletionIndexAnnotation, idx)
			t.Labels = withLabel(t.Labels, batchv1.JobCompletionIndexAnnotation, idx)
			t.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, i)
			prefix = indexedPrefix(job.Name, i)
		}
		pods = append(pods, podFromTemplate(t, job.Namespace, names.name(prefix, strconv.Itoa(i)), prefix, ref))
	}
	return pods, nil
}

// generateJobSelector is the job strategy's generateSelector: job-name and
// controller-uid labels (legacy and batch.kubernetes.io/ forms) on the
// template unless already there, and a controller-uid selector.
func generateJobSelector(job *batchv1.Job) {
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	for _, k := range []string{legacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := job.Spec.Template.Labels[k]; !ok {
			job.Spec.Template.Labels[k] = job.Name
		}
	}
	for _, k := range []string{legacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := job.Spec.Template.Labels[k]; !ok {
			job.Spec.Template.Labels[k] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
}

// indexedPrefix is podGenerateNameWithIndex.
func indexedPrefix(jobName string, index int) string {
	appendIndex := "-" + strconv.Itoa(index) + "-"
	prefix := jobName + appendIndex
	if len(prefix) > maxGeneratedNameLength {
		prefix = prefix[:maxGeneratedNameLength-len(appendIndex)] + appendIndex
	}
	return prefix
}

// addCompletionIndexEnv gives every container of an Indexed Job the
// JOB_COMPLETION_INDEX variable, as the job controller does.
func addCompletionIndexEnv(template *corev1.PodTemplateSpec) {
	add := func(c *corev1.Container) {
		for _, e := range c.Env {
			if e.Name == completionIndexEnvName {
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: completionIndexEnvName, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)},
		}})
	}
	for i := range template.Spec.InitContainers {
		add(&template.Spec.InitContainers[i])
	}
	for i := range template.Spec.Containers {
		add(&template.Spec.Containers[i])
	}
}

func expandCronJob(cj *batchv1.CronJob, opts Options) (*Expansion, error) {
	if errs := validateName(&cj.ObjectMeta); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	loc := time.UTC
	if cj.Spec.TimeZone != nil {
		l, err := time.LoadLocation(*cj.Spec.TimeZone)
		if err != nil {
			return nil, field.ErrorList{field.Invalid(field.NewPath("spec", "timeZone"), *cj.Spec.TimeZone, "unknown time zone "+*cj.Spec.TimeZone)}.ToAggregate()
		}
		loc = l
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return &Expansion{}, nil
	}
	scheduled := opts.ScheduledTime
	if scheduled.IsZero() {
		scheduled = FixedScheduleTime
	}
	// getJobFromTemplate2: the Job is named after the schedule time in
	// minutes, so that one schedule time never makes two Jobs.
	annotations := copyMap(cj.Spec.JobTemplate.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: jobGVK.GroupVersion().String(), Kind: jobGVK.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:              fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60),
			Namespace:         cj.Namespace,
			Labels:            copyMap(cj.Spec.JobTemplate.Labels),
			Annotations:       annotations,
			CreationTimestamp: metav1.Time{Time: scheduled},
			OwnerReferences:   []metav1.OwnerReference{*controllerRef(cj, cronJobGVK)},
		},
	}
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&job.Spec)
	job.UID = uidFor(jobGVK.Kind, job.Namespace, job.Name)
	pods, err := expandJob(job, opts)
	if err != nil {
		return nil, err
	}
	// Show the Job as the API server stored it, generated selector included.
	if job.Spec.ManualSelector == nil || !*job.Spec.ManualSelector {
		generateJobSelector(job)
	}
	return &Expansion{Job: job, Pods: pods}, nil
}
