package collector

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Kinds of the Argo Workflows engine (argoproj.io/v1alpha1).
const (
	kindCronWorkflow            = "CronWorkflow"
	kindWorkflow                = "Workflow"
	kindWorkflowTemplate        = "WorkflowTemplate"
	kindClusterWorkflowTemplate = "ClusterWorkflowTemplate"
)

// Labels and annotations the Argo controller sets on the workflows it
// creates from a CronWorkflow or a template.
const (
	labelCronWorkflow            = "workflows.argoproj.io/cron-workflow"
	labelWorkflowTemplate        = "workflows.argoproj.io/workflow-template"
	labelClusterWorkflowTemplate = "workflows.argoproj.io/cluster-workflow-template"
	annotationArgoScheduledTime  = "workflows.argoproj.io/scheduled-time"
)

// Phases of a Workflow (status.phase); the empty phase is a workflow the
// controller has not seen yet.
const (
	workflowPending   = "Pending"
	workflowRunning   = "Running"
	workflowSucceeded = "Succeeded"
	workflowFailed    = "Failed"
	workflowError     = "Error"
)

// Argo node values read for retries.
const (
	nodeTypeRetry = "Retry"
	nodeFailed    = "Failed"
	nodeError     = "Error"
)

// cronWorkflowStopped is the status.phase of a CronWorkflow that met its
// stop strategy: the controller starts no more workflows.
const cronWorkflowStopped = "Stopped"

// CronWorkflow is the part of an Argo CronWorkflow that batchwatch reads,
// decoded from the unstructured object by DecodeCronWorkflow.
type CronWorkflow struct {
	metav1.ObjectMeta

	// schedules are spec.schedule, or spec.schedules when it is empty, as
	// the controller reads them.
	schedules               []string
	timeZone                string
	startingDeadlineSeconds *int64
	concurrencyPolicy       string
	suspend                 bool
	stopped                 bool
	// hasDeadline is whether workflowSpec.activeDeadlineSeconds is set.
	hasDeadline   bool
	lastScheduled *time.Time
}

// Workflow is the part of an Argo Workflow that batchwatch reads, decoded
// from the unstructured object by DecodeWorkflow. Retries are counted while
// decoding, so the cache holds two numbers instead of the node tree.
type Workflow struct {
	metav1.ObjectMeta

	phase      string
	startedAt  *time.Time
	finishedAt *time.Time
	deadline   *time.Duration
	// templateRef is the name in spec.workflowTemplateRef, and
	// clusterTemplate is whether it refers to a ClusterWorkflowTemplate.
	templateRef     string
	clusterTemplate bool
	retries         int32
	retryLimit      *int32
}

// cronWorkflowFields are the fields of a CronWorkflow batchwatch reads, in
// the JSON layout of argoproj.io/v1alpha1.
type cronWorkflowFields struct {
	Spec struct {
		Schedule                string   `json:"schedule"`
		Schedules               []string `json:"schedules"`
		Timezone                string   `json:"timezone"`
		StartingDeadlineSeconds *int64   `json:"startingDeadlineSeconds"`
		ConcurrencyPolicy       string   `json:"concurrencyPolicy"`
		Suspend                 bool     `json:"suspend"`
		WorkflowSpec            struct {
			ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds"`
		} `json:"workflowSpec"`
	} `json:"spec"`
	Status struct {
		LastScheduledTime *metav1.Time `json:"lastScheduledTime"`
		Phase             string       `json:"phase"`
	} `json:"status"`
}

// workflowFields are the fields of a Workflow batchwatch reads.
type workflowFields struct {
	Spec   workflowSpecFields `json:"spec"`
	Status struct {
		Phase      string                `json:"phase"`
		StartedAt  *metav1.Time          `json:"startedAt"`
		FinishedAt *metav1.Time          `json:"finishedAt"`
		Nodes      map[string]nodeFields `json:"nodes"`
		// StoredWorkflowTemplateSpec is the spec of the referenced
		// template, which holds the templates and deadline that a
		// workflow submitted from a WorkflowTemplate does not repeat.
		StoredWorkflowTemplateSpec *workflowSpecFields `json:"storedWorkflowTemplateSpec"`
	} `json:"status"`
}

type workflowSpecFields struct {
	Entrypoint            string               `json:"entrypoint"`
	ActiveDeadlineSeconds *int64               `json:"activeDeadlineSeconds"`
	RetryStrategy         *retryStrategyFields `json:"retryStrategy"`
	Templates             []templateFields     `json:"templates"`
	WorkflowTemplateRef   *struct {
		Name         string `json:"name"`
		ClusterScope bool   `json:"clusterScope"`
	} `json:"workflowTemplateRef"`
}

type templateFields struct {
	Name          string               `json:"name"`
	RetryStrategy *retryStrategyFields `json:"retryStrategy"`
}

type retryStrategyFields struct {
	// Limit is a number or a string: a number as text, or an expression
	// that only the controller can evaluate.
	Limit *intstr.IntOrString `json:"limit"`
}

type nodeFields struct {
	Type         string   `json:"type"`
	Phase        string   `json:"phase"`
	TemplateName string   `json:"templateName"`
	Children     []string `json:"children"`
}

// DecodeCronWorkflow reads a CronWorkflow. It fails when a field batchwatch
// reads has the wrong type. A missing status is a CronWorkflow that never
// ran.
func DecodeCronWorkflow(u *unstructured.Unstructured) (*CronWorkflow, error) {
	var fields cronWorkflowFields
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &fields); err != nil {
		return nil, fmt.Errorf("decode CronWorkflow %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}

	cw := &CronWorkflow{
		ObjectMeta:              argoMeta(u),
		timeZone:                fields.Spec.Timezone,
		startingDeadlineSeconds: fields.Spec.StartingDeadlineSeconds,
		concurrencyPolicy:       fields.Spec.ConcurrencyPolicy,
		suspend:                 fields.Spec.Suspend,
		stopped:                 fields.Status.Phase == cronWorkflowStopped,
		hasDeadline:             fields.Spec.WorkflowSpec.ActiveDeadlineSeconds != nil,
		lastScheduled:           resourceTime(fields.Status.LastScheduledTime),
	}
	// The controller reads spec.schedules only when spec.schedule is empty.
	if fields.Spec.Schedule != "" {
		cw.schedules = []string{fields.Spec.Schedule}
	} else {
		cw.schedules = fields.Spec.Schedules
	}
	return cw, nil
}

// DecodeWorkflow reads a Workflow. It fails when a field batchwatch reads
// has the wrong type. unexpected is UnexpectedUnknownPhase when the phase is
// not one Argo documents, and empty otherwise.
func DecodeWorkflow(u *unstructured.Unstructured) (w *Workflow, unexpected string, err error) {
	var fields workflowFields
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &fields); err != nil {
		return nil, "", fmt.Errorf("decode Workflow %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}

	spec := &fields.Spec
	stored := fields.Status.StoredWorkflowTemplateSpec
	if stored == nil {
		stored = &workflowSpecFields{}
	}
	w = &Workflow{
		ObjectMeta: argoMeta(u),
		phase:      fields.Status.Phase,
		startedAt:  resourceTime(fields.Status.StartedAt),
		finishedAt: resourceTime(fields.Status.FinishedAt),
	}
	if ref := spec.WorkflowTemplateRef; ref != nil {
		w.templateRef, w.clusterTemplate = ref.Name, ref.ClusterScope
	}
	deadline := spec.ActiveDeadlineSeconds
	if deadline == nil {
		deadline = stored.ActiveDeadlineSeconds
	}
	if deadline != nil {
		d := time.Duration(*deadline) * time.Second
		w.deadline = &d
	}
	w.retries, w.retryLimit = workflowRetries(spec, stored, fields.Status.Nodes)

	switch w.phase {
	case "", workflowPending, workflowRunning, workflowSucceeded, workflowFailed, workflowError:
		return w, "", nil
	}
	return w, UnexpectedUnknownPhase, nil
}

// argoMeta keeps the metadata an Argo adapter reads: identity, the labels
// and annotation that link a workflow to its CronWorkflow or template, and
// the owner reference to a CronWorkflow.
func argoMeta(u *unstructured.Unstructured) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:              u.GetName(),
		GenerateName:      u.GetGenerateName(),
		Namespace:         u.GetNamespace(),
		UID:               u.GetUID(),
		ResourceVersion:   u.GetResourceVersion(),
		CreationTimestamp: u.GetCreationTimestamp(),
		Labels:            keepEntries(u.GetLabels(), labelCronWorkflow, labelWorkflowTemplate, labelClusterWorkflowTemplate),
		Annotations:       keepEntries(u.GetAnnotations(), annotationArgoScheduledTime),
	}
	for _, ref := range u.GetOwnerReferences() {
		if ref.Kind == kindCronWorkflow {
			m.OwnerReferences = []metav1.OwnerReference{{Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Controller: ref.Controller}}
			break
		}
	}
	return m
}

// keepEntries returns the entries of labels or annotations under the given
// keys, nil when there are none.
func keepEntries(entries map[string]string, keys ...string) map[string]string {
	var subset map[string]string
	for _, k := range keys {
		if v, ok := entries[k]; ok {
			if subset == nil {
				subset = map[string]string{}
			}
			subset[k] = v
		}
	}
	return subset
}

// workflowRetries returns the failed attempts of the retry node with the
// most of them, and that node's limit. Argo records each attempt as a child
// of a node of type Retry, so a failed attempt counts once however many step
// and group nodes above it also failed. A limit applies to each retry node,
// so the busiest node, not the sum, is what runs out first. Without retry
// nodes the limit is that of the entry template.
//
// NOTE: a workflow whose node status the controller offloaded to its
// database (status.offloadNodeStatusVersion) carries no nodes, so it reports
// 0 retries.
func workflowRetries(spec, stored *workflowSpecFields, nodes map[string]nodeFields) (int32, *int32) {
	var worst int32
	worstTemplate := ""
	found := false
	for _, node := range nodes {
		if node.Type != nodeTypeRetry {
			continue
		}
		var failed int32
		for _, id := range node.Children {
			if child, ok := nodes[id]; ok && (child.Phase == nodeFailed || child.Phase == nodeError) {
				failed++
			}
		}
		if !found || failed > worst || (failed == worst && node.TemplateName < worstTemplate) {
			worst, worstTemplate, found = failed, node.TemplateName, true
		}
	}

	if !found {
		entrypoint := spec.Entrypoint
		if entrypoint == "" {
			entrypoint = stored.Entrypoint
		}
		return 0, templateRetryLimit(spec, stored, entrypoint)
	}
	return worst, templateRetryLimit(spec, stored, worstTemplate)
}

// templateRetryLimit returns the retry limit of the named template: its own
// retryStrategy, else the workflow's spec.retryStrategy, which applies to
// every template without one. Without any retryStrategy a template is not
// retried, so the limit is 0. A strategy without a limit retries without
// end, so there is no limit to return.
func templateRetryLimit(spec, stored *workflowSpecFields, template string) *int32 {
	for _, templates := range [][]templateFields{spec.Templates, stored.Templates} {
		for _, t := range templates {
			if t.Name == template && t.RetryStrategy != nil {
				return retryLimit(t.RetryStrategy)
			}
		}
	}
	for _, strategy := range []*retryStrategyFields{spec.RetryStrategy, stored.RetryStrategy} {
		if strategy != nil {
			return retryLimit(strategy)
		}
	}
	zero := int32(0)
	return &zero
}

// retryLimit returns a strategy's limit, nil when it has none or when the
// limit is an expression that only the controller can evaluate.
func retryLimit(strategy *retryStrategyFields) *int32 {
	if strategy.Limit == nil {
		return nil
	}
	limit := strategy.Limit
	if limit.Type == intstr.Int {
		v := limit.IntVal
		return &v
	}
	v, err := strconv.ParseInt(strings.TrimSpace(limit.StrVal), 10, 32)
	if err != nil {
		return nil
	}
	n := int32(v)
	return &n
}

// workflowFinished reports whether a Workflow reached a final phase.
func workflowFinished(w *Workflow) bool {
	return w.phase == workflowSucceeded || w.phase == workflowFailed || w.phase == workflowError
}

// ArgoSource builds the model from the CronWorkflow and Workflow caches and
// turns their informer events into the recorder's counters.
type ArgoSource struct {
	cronWorkflows func() Store
	workflows     func() Store
	synced        func() bool

	recorder *Recorder
	parser   *scheduleParser
	logger   *slog.Logger
}

// NewArgoSource returns a source over the caches that the store functions
// return. A store function returns nil while its resource is not served,
// and the source then reads nothing from it. synced reports whether the
// informers of the served resources have synced.
func NewArgoSource(cronWorkflows, workflows func() Store, synced func() bool, recorder *Recorder, defaultZone string, logger *slog.Logger) *ArgoSource {
	return &ArgoSource{
		cronWorkflows: cronWorkflows,
		workflows:     workflows,
		synced:        synced,
		recorder:      recorder,
		parser:        newScheduleParser(defaultZone),
		logger:        logger,
	}
}

// Name returns the value of the collector label of this source.
func (a *ArgoSource) Name() string { return "argo" }

// Synced reports whether the caches of the served resources are complete.
func (a *ArgoSource) Synced() bool { return a.synced() }

// Snapshot builds the schedules and runs of the cached objects.
func (a *ArgoSource) Snapshot() ([]*Schedule, []*Run) {
	cronWorkflows := listStore(a.cronWorkflows())
	schedules := make([]*Schedule, 0, len(cronWorkflows))
	// A workflow may name its CronWorkflow only in a label, so the names
	// map to the UIDs that link runs to their schedule.
	cronUIDs := map[string]types.UID{}
	for _, obj := range cronWorkflows {
		if cw, ok := obj.(*CronWorkflow); ok {
			schedules = append(schedules, scheduleFromCronWorkflow(cw))
			cronUIDs[cw.Namespace+"/"+cw.Name] = cw.UID
		}
	}

	workflows := listStore(a.workflows())
	runs := make([]*Run, 0, len(workflows))
	for _, obj := range workflows {
		if w, ok := obj.(*Workflow); ok {
			runs = append(runs, runFromWorkflow(w, cronUIDs))
		}
	}
	return schedules, runs
}

func listStore(store Store) []any {
	if store == nil {
		return nil
	}
	return store.List()
}

// OnWorkflow counts a Workflow that finished. Informers call it on add, with
// old nil, and on update. A manual retry (argo retry) runs a finished
// workflow again under the same UID. So when a finished workflow runs again
// or finishes at another time, the recorder drops the outcome it counted
// for the UID and counts the new one.
func (a *ArgoSource) OnWorkflow(old, updated *Workflow) {
	if old != nil && workflowFinished(old) && (!workflowFinished(updated) || !equalTime(old.finishedAt, updated.finishedAt)) {
		a.recorder.ForgetRun(updated.UID)
	}
	a.recorder.ObserveRun(runFromWorkflow(updated, nil))
}

// OnWorkflowDelete drops the recorder's memory of a deleted Workflow.
func (a *ArgoSource) OnWorkflowDelete(w *Workflow) {
	a.recorder.ForgetRun(w.UID)
}

// OnCronWorkflow logs a schedule that cannot be parsed, once per change of
// its expressions or zone, and counts the slots a CronWorkflow passed over
// when its lastScheduledTime moves forward. old is nil when the
// CronWorkflow is new.
func (a *ArgoSource) OnCronWorkflow(old, updated *CronWorkflow) {
	s := scheduleFromCronWorkflow(updated)
	parsed, err := a.parser.parse(s.Expression, s.TimeZone)
	if err != nil {
		if old == nil || !slices.Equal(old.schedules, updated.schedules) || old.timeZone != updated.timeZone {
			a.logger.Warn("schedule cannot be parsed; the controller will not start runs", "namespace", s.Namespace, "name", s.Name,
				"kind", s.Kind, "schedule", s.Expression, "timezone", s.TimeZone, "reason", invalidReason(err), "err", err)
		}
		return
	}

	if old == nil || old.lastScheduled == nil || updated.lastScheduled == nil || !updated.lastScheduled.After(*old.lastScheduled) {
		return
	}
	notStarted, forbidden := skippedSlots(s, parsed, a.runsOf(updated), *old.lastScheduled, *updated.lastScheduled)
	if notStarted+forbidden > 0 {
		a.logger.Debug("schedule skipped slots", "namespace", s.Namespace, "name", s.Name, "kind", s.Kind,
			"not_started", notStarted, "concurrency_forbidden", forbidden)
	}
	a.recorder.ObserveSkipped(s, reasonNotStarted, notStarted)
	a.recorder.ObserveSkipped(s, reasonConcurrencyForbidden, forbidden)
}

// runsOf returns the retained workflows of a CronWorkflow.
func (a *ArgoSource) runsOf(cw *CronWorkflow) []*Run {
	cronUIDs := map[string]types.UID{cw.Namespace + "/" + cw.Name: cw.UID}
	var runs []*Run
	for _, obj := range listStore(a.workflows()) {
		w, ok := obj.(*Workflow)
		if !ok || w.Namespace != cw.Namespace {
			continue
		}
		if r := runFromWorkflow(w, cronUIDs); r.ScheduleUID == cw.UID {
			runs = append(runs, r)
		}
	}
	return runs
}

// scheduleFromCronWorkflow builds the Schedule of a CronWorkflow.
func scheduleFromCronWorkflow(cw *CronWorkflow) *Schedule {
	s := &Schedule{
		Kind:              kindCronWorkflow,
		Namespace:         cw.Namespace,
		Name:              cw.Name,
		UID:               cw.UID,
		Expression:        strings.Join(cw.schedules, expressionSeparator),
		TimeZone:          cw.timeZone,
		ConcurrencyPolicy: cw.concurrencyPolicy,
		// A stopped CronWorkflow starts no run, as a suspended one.
		Suspended:     cw.suspend || cw.stopped,
		Created:       cw.CreationTimestamp.Time,
		LastScheduled: cw.lastScheduled,
	}
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = "Allow"
	}
	if cw.startingDeadlineSeconds != nil {
		d := time.Duration(*cw.startingDeadlineSeconds) * time.Second
		s.StartingDeadline = &d
	}

	// History limits clean up a CronWorkflow's workflows, so a missing TTL
	// is no gap. Retries are a choice per template, not a checklist item.
	if !cw.hasDeadline {
		s.FailedChecks = append(s.FailedChecks, checkNoDeadline)
	}
	if s.StartingDeadline == nil {
		s.FailedChecks = append(s.FailedChecks, checkNoStartingDeadline)
	}
	return s
}

// runFromWorkflow builds the Run of a Workflow. cronUIDs maps the
// namespace/name of each known CronWorkflow to its UID, for workflows that
// name their CronWorkflow only in a label.
func runFromWorkflow(w *Workflow, cronUIDs map[string]types.UID) *Run {
	r := &Run{
		Kind:      kindWorkflow,
		Namespace: w.Namespace,
		Name:      w.Name,
		UID:       w.UID,
		Created:   w.CreationTimestamp.Time,
		Started:   w.startedAt,
		Deadline:  w.deadline,
	}
	r.Workload, r.ScheduleUID = workflowWorkload(w, cronUIDs)
	if r.ScheduleUID != "" {
		if value, ok := w.Annotations[annotationArgoScheduledTime]; ok {
			if t, err := time.Parse(time.RFC3339, value); err == nil {
				r.ScheduledAt = &t
			}
		}
	}

	switch w.phase {
	case workflowSucceeded, workflowFailed, workflowError:
		r.State = RunSucceeded
		if w.phase != workflowSucceeded {
			// Failed is a step that failed, Error a failure of the
			// controller or the infrastructure.
			r.State, r.Reason = RunFailed, w.phase
		}
		r.Finished = w.finishedAt
	case "", workflowPending:
		// Pending is a workflow held back by parallelism or
		// synchronization limits, or not yet seen by the controller.
		r.State = RunWaiting
		r.BacklogState = BacklogPending
		r.WaitingSince = w.CreationTimestamp.Time
	default:
		// Running, and any phase a newer controller may add.
		r.State = RunActive
		r.Retries, r.RetryLimit = w.retries, w.retryLimit
	}
	return r
}

// workflowWorkload returns the workload a Workflow belongs to and the UID
// of its CronWorkflow, empty when unknown. The workload is the CronWorkflow,
// else the WorkflowTemplate or ClusterWorkflowTemplate the workflow was
// submitted from, else the generateName prefix shared by its reruns, else
// the Workflow itself.
func workflowWorkload(w *Workflow, cronUIDs map[string]types.UID) (WorkloadRef, types.UID) {
	for _, ref := range w.OwnerReferences {
		if ref.Kind == kindCronWorkflow {
			return WorkloadRef{Kind: kindCronWorkflow, Name: ref.Name}, ref.UID
		}
	}
	if name := w.Labels[labelCronWorkflow]; name != "" {
		return WorkloadRef{Kind: kindCronWorkflow, Name: name}, cronUIDs[w.Namespace+"/"+name]
	}

	switch {
	case w.templateRef != "" && w.clusterTemplate:
		return WorkloadRef{Kind: kindClusterWorkflowTemplate, Name: w.templateRef}, ""
	case w.templateRef != "":
		return WorkloadRef{Kind: kindWorkflowTemplate, Name: w.templateRef}, ""
	case w.Labels[labelClusterWorkflowTemplate] != "":
		return WorkloadRef{Kind: kindClusterWorkflowTemplate, Name: w.Labels[labelClusterWorkflowTemplate]}, ""
	case w.Labels[labelWorkflowTemplate] != "":
		return WorkloadRef{Kind: kindWorkflowTemplate, Name: w.Labels[labelWorkflowTemplate]}, ""
	}

	if prefix := strings.TrimRight(w.GenerateName, "-."); prefix != "" {
		return WorkloadRef{Kind: kindWorkflow, Name: prefix}, ""
	}
	return WorkloadRef{Kind: kindWorkflow, Name: w.Name}, ""
}

// resourceTime returns a timestamp of a custom resource, nil when it is
// unset: the operators write an unset time as null or leave it out.
func resourceTime(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := t.Time
	return &v
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
