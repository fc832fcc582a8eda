package collector

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Kinds of the spark-operator engine (sparkoperator.k8s.io/v1beta2).
const (
	kindScheduledSparkApplication = "ScheduledSparkApplication"
	kindSparkApplication          = "SparkApplication"
)

// labelScheduledSparkApp names the ScheduledSparkApplication on the
// applications it creates.
const labelScheduledSparkApp = "sparkoperator.k8s.io/scheduled-app-name"

// States of a SparkApplication (status.applicationState.state); the empty
// state is an application the operator has not seen yet. SUSPENDING,
// SUSPENDED and RESUMING exist since spark-operator 2.1.
const (
	sparkSubmitted        = "SUBMITTED"
	sparkRunning          = "RUNNING"
	sparkCompleted        = "COMPLETED"
	sparkFailed           = "FAILED"
	sparkSubmissionFailed = "SUBMISSION_FAILED"
	sparkPendingRerun     = "PENDING_RERUN"
	sparkInvalidating     = "INVALIDATING"
	sparkSucceeding       = "SUCCEEDING"
	sparkFailing          = "FAILING"
	sparkUnknown          = "UNKNOWN"
	sparkSuspending       = "SUSPENDING"
	sparkSuspended        = "SUSPENDED"
	sparkResuming         = "RESUMING"
)

// Restart policy types of a SparkApplication (spec.restartPolicy.type); an
// empty type is Never, the operator's default.
const (
	sparkRestartAlways    = "Always"
	sparkRestartOnFailure = "OnFailure"
)

// Reasons of a failed SparkApplication in batchwatch_runs_finished_total.
const (
	sparkReasonFailed           = "Failed"
	sparkReasonSubmissionFailed = "SubmissionFailed"
)

// ScheduledSparkApplication is the part of a ScheduledSparkApplication that
// batchwatch reads, decoded by DecodeScheduledSparkApplication.
type ScheduledSparkApplication struct {
	metav1.ObjectMeta

	schedule          string
	timeZone          string
	concurrencyPolicy string
	suspend           bool
	// lastRun is when the operator started the latest run. Unlike a
	// CronJob's lastScheduleTime it is the start time, a little after the
	// slot.
	lastRun *time.Time
}

// SparkApplication is the part of a SparkApplication that batchwatch reads,
// decoded by DecodeSparkApplication.
type SparkApplication struct {
	metav1.ObjectMeta

	state string
	// restartPolicy is spec.restartPolicy.type with its two retry limits.
	restartPolicy              string
	onFailureRetries           *int32
	onSubmissionFailureRetries *int32
	// queue is the batch scheduler queue (spec.batchSchedulerOptions.queue).
	queue              string
	submissionAttempts int32
	executionAttempts  int32
	lastSubmission     *time.Time
	terminated         *time.Time
}

// scheduledSparkApplicationFields are the fields batchwatch reads, in the
// JSON layout of sparkoperator.k8s.io/v1beta2.
type scheduledSparkApplicationFields struct {
	Spec struct {
		Schedule          string `json:"schedule"`
		TimeZone          string `json:"timeZone"`
		ConcurrencyPolicy string `json:"concurrencyPolicy"`
		Suspend           *bool  `json:"suspend"`
	} `json:"spec"`
	Status struct {
		LastRun *metav1.Time `json:"lastRun"`
	} `json:"status"`
}

type sparkApplicationFields struct {
	Spec struct {
		RestartPolicy struct {
			Type                       string `json:"type"`
			OnFailureRetries           *int32 `json:"onFailureRetries"`
			OnSubmissionFailureRetries *int32 `json:"onSubmissionFailureRetries"`
		} `json:"restartPolicy"`
		BatchSchedulerOptions *struct {
			Queue *string `json:"queue"`
		} `json:"batchSchedulerOptions"`
	} `json:"spec"`
	Status struct {
		ApplicationState struct {
			State string `json:"state"`
		} `json:"applicationState"`
		SubmissionAttempts        int32        `json:"submissionAttempts"`
		ExecutionAttempts         int32        `json:"executionAttempts"`
		LastSubmissionAttemptTime *metav1.Time `json:"lastSubmissionAttemptTime"`
		TerminationTime           *metav1.Time `json:"terminationTime"`
	} `json:"status"`
}

// DecodeScheduledSparkApplication reads a ScheduledSparkApplication. It
// fails when a field batchwatch reads has the wrong type.
func DecodeScheduledSparkApplication(u *unstructured.Unstructured) (*ScheduledSparkApplication, error) {
	var fields scheduledSparkApplicationFields
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &fields); err != nil {
		return nil, fmt.Errorf("decode ScheduledSparkApplication %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return &ScheduledSparkApplication{
		ObjectMeta:        sparkMeta(u),
		schedule:          fields.Spec.Schedule,
		timeZone:          fields.Spec.TimeZone,
		concurrencyPolicy: fields.Spec.ConcurrencyPolicy,
		suspend:           fields.Spec.Suspend != nil && *fields.Spec.Suspend,
		lastRun:           resourceTime(fields.Status.LastRun),
	}, nil
}

// DecodeSparkApplication reads a SparkApplication. It fails when a field
// batchwatch reads has the wrong type. unexpected is UnexpectedUnknownPhase
// when the state is not one the operator documents, and empty otherwise.
func DecodeSparkApplication(u *unstructured.Unstructured) (app *SparkApplication, unexpected string, err error) {
	var fields sparkApplicationFields
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &fields); err != nil {
		return nil, "", fmt.Errorf("decode SparkApplication %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}

	policy := fields.Spec.RestartPolicy
	app = &SparkApplication{
		ObjectMeta:                 sparkMeta(u),
		state:                      fields.Status.ApplicationState.State,
		restartPolicy:              policy.Type,
		onFailureRetries:           policy.OnFailureRetries,
		onSubmissionFailureRetries: policy.OnSubmissionFailureRetries,
		submissionAttempts:         fields.Status.SubmissionAttempts,
		executionAttempts:          fields.Status.ExecutionAttempts,
		lastSubmission:             resourceTime(fields.Status.LastSubmissionAttemptTime),
		terminated:                 resourceTime(fields.Status.TerminationTime),
	}
	if options := fields.Spec.BatchSchedulerOptions; options != nil && options.Queue != nil {
		app.queue = *options.Queue
	}

	switch app.state {
	case "", sparkSubmitted, sparkRunning, sparkCompleted, sparkFailed, sparkSubmissionFailed, sparkPendingRerun,
		sparkInvalidating, sparkSucceeding, sparkFailing, sparkUnknown, sparkSuspending, sparkSuspended, sparkResuming:
		return app, "", nil
	}
	return app, UnexpectedUnknownPhase, nil
}

// sparkMeta keeps the metadata a spark-operator adapter reads: identity,
// the label that names the ScheduledSparkApplication, and the owner
// reference to it, which the operator sets without the controller flag.
func sparkMeta(u *unstructured.Unstructured) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:              u.GetName(),
		GenerateName:      u.GetGenerateName(),
		Namespace:         u.GetNamespace(),
		UID:               u.GetUID(),
		ResourceVersion:   u.GetResourceVersion(),
		CreationTimestamp: u.GetCreationTimestamp(),
		Labels:            keepEntries(u.GetLabels(), labelScheduledSparkApp),
	}
	for _, ref := range u.GetOwnerReferences() {
		if ref.Kind == kindScheduledSparkApplication {
			m.OwnerReferences = []metav1.OwnerReference{{Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Controller: ref.Controller}}
			break
		}
	}
	return m
}

// SparkSource builds the model from the ScheduledSparkApplication and
// SparkApplication caches and turns their informer events into the
// recorder's counters.
type SparkSource struct {
	scheduled    func() Store
	applications func() Store
	synced       func() bool

	recorder *Recorder
	parser   *scheduleParser
	logger   *slog.Logger
}

// NewSparkSource returns a source over the caches that the store functions
// return. A store function returns nil while its resource is not served,
// and the source then reads nothing from it. synced reports whether the
// informers of the served resources have synced.
func NewSparkSource(scheduled, applications func() Store, synced func() bool, recorder *Recorder, defaultZone string, logger *slog.Logger) *SparkSource {
	return &SparkSource{
		scheduled:    scheduled,
		applications: applications,
		synced:       synced,
		recorder:     recorder,
		parser:       newScheduleParser(defaultZone),
		logger:       logger,
	}
}

// Name returns the value of the collector label of this source.
func (s *SparkSource) Name() string { return "spark" }

// Synced reports whether the caches of the served resources are complete.
func (s *SparkSource) Synced() bool { return s.synced() }

// Snapshot builds the schedules and runs of the cached objects.
func (s *SparkSource) Snapshot() ([]*Schedule, []*Run) {
	scheduled := listStore(s.scheduled())
	schedules := make([]*Schedule, 0, len(scheduled))
	scheduleUIDs := map[string]types.UID{}
	for _, obj := range scheduled {
		if ssa, ok := obj.(*ScheduledSparkApplication); ok {
			schedules = append(schedules, scheduleFromScheduledSparkApplication(ssa))
			scheduleUIDs[ssa.Namespace+"/"+ssa.Name] = ssa.UID
		}
	}

	applications := listStore(s.applications())
	runs := make([]*Run, 0, len(applications))
	for _, obj := range applications {
		if app, ok := obj.(*SparkApplication); ok {
			runs = append(runs, runFromSparkApplication(app, scheduleUIDs))
		}
	}
	return schedules, runs
}

// OnSparkApplication counts a SparkApplication that finished. Informers
// call it on add, with old nil, and on update. A changed spec makes the
// operator run a finished application again under the same UID. So when a
// finished application runs again or finishes at another time, the recorder
// drops the outcome it counted for the UID and counts the new one.
func (s *SparkSource) OnSparkApplication(old, updated *SparkApplication) {
	run := runFromSparkApplication(updated, nil)
	if old != nil {
		previous := runFromSparkApplication(old, nil)
		if previous.State.Finished() && (!run.State.Finished() || !equalTime(previous.Finished, run.Finished)) {
			s.recorder.ForgetRun(updated.UID)
		}
	}
	s.recorder.ObserveRun(run)
}

// OnSparkApplicationDelete drops the recorder's memory of a deleted
// SparkApplication.
func (s *SparkSource) OnSparkApplicationDelete(app *SparkApplication) {
	s.recorder.ForgetRun(app.UID)
}

// OnScheduledSparkApplication logs a schedule that cannot be parsed, once
// per change of its expression or zone, and counts the slots it passed over
// when status.lastRun moves forward. old is nil when the object is new.
func (s *SparkSource) OnScheduledSparkApplication(old, updated *ScheduledSparkApplication) {
	schedule := scheduleFromScheduledSparkApplication(updated)
	parsed, err := s.parser.parse(schedule.Expression, schedule.TimeZone)
	if err != nil {
		if old == nil || old.schedule != updated.schedule || old.timeZone != updated.timeZone {
			s.logger.Warn("schedule cannot be parsed; the controller will not start runs", "namespace", schedule.Namespace,
				"name", schedule.Name, "kind", schedule.Kind, "schedule", schedule.Expression, "timezone", schedule.TimeZone,
				"reason", invalidReason(err), "err", err)
		}
		return
	}

	if old == nil || old.lastRun == nil || updated.lastRun == nil || !updated.lastRun.After(*old.lastRun) {
		return
	}
	// lastRun is a start time; the slots it started are those at or before
	// it, so the slots in between are compared with those.
	previous, ok1 := previousSlot(parsed.cron, *old.lastRun)
	current, ok2 := previousSlot(parsed.cron, *updated.lastRun)
	if !ok1 || !ok2 || !current.After(previous) {
		return
	}
	notStarted, forbidden := skippedSlots(schedule, parsed, s.runsOf(updated), previous, current)
	if notStarted+forbidden > 0 {
		s.logger.Debug("schedule skipped slots", "namespace", schedule.Namespace, "name", schedule.Name, "kind", schedule.Kind,
			"not_started", notStarted, "concurrency_forbidden", forbidden)
	}
	s.recorder.ObserveSkipped(schedule, reasonNotStarted, notStarted)
	s.recorder.ObserveSkipped(schedule, reasonConcurrencyForbidden, forbidden)
}

// runsOf returns the retained applications of a ScheduledSparkApplication.
func (s *SparkSource) runsOf(ssa *ScheduledSparkApplication) []*Run {
	scheduleUIDs := map[string]types.UID{ssa.Namespace + "/" + ssa.Name: ssa.UID}
	var runs []*Run
	for _, obj := range listStore(s.applications()) {
		app, ok := obj.(*SparkApplication)
		if !ok || app.Namespace != ssa.Namespace {
			continue
		}
		if r := runFromSparkApplication(app, scheduleUIDs); r.ScheduleUID == ssa.UID {
			runs = append(runs, r)
		}
	}
	return runs
}

// scheduleFromScheduledSparkApplication builds the Schedule of a
// ScheduledSparkApplication. The operator has no starting deadline: it
// starts one run for the latest due slot whenever it gets to it.
//
// NOTE: status.scheduleState FailedValidation is not read. The operator
// parses the same way, so an expression or zone it rejects is invalid here
// too. The operator keeps FailedValidation after the spec is fixed, and
// starts no run then; batchwatch shows that as missed runs, not as an
// invalid schedule.
func scheduleFromScheduledSparkApplication(ssa *ScheduledSparkApplication) *Schedule {
	s := &Schedule{
		Kind:              kindScheduledSparkApplication,
		Namespace:         ssa.Namespace,
		Name:              ssa.Name,
		UID:               ssa.UID,
		Expression:        ssa.schedule,
		TimeZone:          ssa.timeZone,
		ConcurrencyPolicy: ssa.concurrencyPolicy,
		Suspended:         ssa.suspend,
		Created:           ssa.CreationTimestamp.Time,
		LastScheduled:     ssa.lastRun,
	}
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = "Allow"
	}
	return s
}

// runFromSparkApplication builds the Run of a SparkApplication.
// scheduleUIDs maps the namespace/name of each known
// ScheduledSparkApplication to its UID, for applications that name it only
// in a label.
func runFromSparkApplication(app *SparkApplication, scheduleUIDs map[string]types.UID) *Run {
	r := &Run{
		Kind:      kindSparkApplication,
		Namespace: app.Namespace,
		Name:      app.Name,
		UID:       app.UID,
		Created:   app.CreationTimestamp.Time,
		// The start of the latest attempt: the operator resets it on a
		// rerun.
		Started: app.lastSubmission,
		Queue:   app.queue,
	}
	r.Workload, r.ScheduleUID = sparkWorkload(app, scheduleUIDs)

	switch app.state {
	case sparkCompleted:
		r.State = RunSucceeded
		r.Finished = sparkFinished(app)
	case sparkFailed:
		r.State, r.Reason = RunFailed, sparkReasonFailed
		if app.executionAttempts == 0 {
			// Nothing ran, so there is no duration to observe.
			r.Reason, r.Started = sparkReasonSubmissionFailed, nil
		}
		r.Finished = sparkFinished(app)
	case sparkSubmissionFailed:
		// The latest submission started nothing. The operator submits
		// again while the restart policy allows it, and moves the
		// application to FAILED once it does not.
		r.Started = nil
		if submissionRetried(app) {
			r.State = RunActive
			r.Retries, r.RetryLimit = max(app.submissionAttempts-1, 0), sparkRetryLimit(app.restartPolicy, app.onSubmissionFailureRetries)
			break
		}
		r.State, r.Reason = RunFailed, sparkReasonSubmissionFailed
		r.Finished = sparkFinished(app)
	case "", sparkSubmitted, sparkResuming:
		// Submitted is spark-submit done and the driver not yet running.
		r.State = RunWaiting
		r.BacklogState = BacklogPending
		r.WaitingSince = app.CreationTimestamp.Time
		if app.lastSubmission != nil {
			r.WaitingSince = *app.lastSubmission
		}
	case sparkSuspended:
		r.State = RunWaiting
		r.BacklogState = BacklogQueued
		r.WaitingSince = app.CreationTimestamp.Time
	default:
		// Running, a rerun pending after a failed attempt, the transient
		// states between them, and any state a newer operator may add.
		r.State = RunActive
		r.Retries, r.RetryLimit = max(app.executionAttempts-1, 0), sparkRetryLimit(app.restartPolicy, app.onFailureRetries)
	}
	return r
}

// sparkFinished returns when a finished application ended:
// status.terminationTime, which the operator does not set for every failed
// submission; else its latest submission; else its creation.
func sparkFinished(app *SparkApplication) *time.Time {
	if app.terminated != nil {
		return app.terminated
	}
	if app.lastSubmission != nil {
		return app.lastSubmission
	}
	created := app.CreationTimestamp.Time
	return &created
}

// submissionRetried reports whether the operator submits an application in
// SUBMISSION_FAILED again, as its restart policy decides.
func submissionRetried(app *SparkApplication) bool {
	switch app.restartPolicy {
	case sparkRestartAlways:
		return true
	case sparkRestartOnFailure:
		return app.onSubmissionFailureRetries != nil && app.submissionAttempts <= *app.onSubmissionFailureRetries
	}
	return false
}

// sparkRetryLimit returns the retries a restart policy allows: none for
// Never, the given limit for OnFailure (none when unset), and no limit for
// Always.
func sparkRetryLimit(policy string, retries *int32) *int32 {
	limit := int32(0)
	switch policy {
	case sparkRestartAlways:
		return nil
	case sparkRestartOnFailure:
		if retries != nil {
			limit = *retries
		}
	}
	return &limit
}

// sparkWorkload returns the workload a SparkApplication belongs to and the
// UID of its ScheduledSparkApplication, empty when unknown. The workload is
// the ScheduledSparkApplication, else the generateName prefix shared by its
// reruns, else the application itself.
func sparkWorkload(app *SparkApplication, scheduleUIDs map[string]types.UID) (WorkloadRef, types.UID) {
	for _, ref := range app.OwnerReferences {
		if ref.Kind == kindScheduledSparkApplication {
			return WorkloadRef{Kind: kindScheduledSparkApplication, Name: ref.Name}, ref.UID
		}
	}
	if name := app.Labels[labelScheduledSparkApp]; name != "" {
		return WorkloadRef{Kind: kindScheduledSparkApplication, Name: name}, scheduleUIDs[app.Namespace+"/"+name]
	}
	if prefix := strings.TrimRight(app.GenerateName, "-."); prefix != "" {
		return WorkloadRef{Kind: kindSparkApplication, Name: prefix}, ""
	}
	return WorkloadRef{Kind: kindSparkApplication, Name: app.Name}, ""
}
