package collector

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Schedule is anything that starts runs from a cron expression: a CronJob,
// a CronWorkflow or a ScheduledSparkApplication. Adapters fill it from the
// engine's object; the schedule math reads only this struct.
type Schedule struct {
	Kind      string
	Namespace string
	Name      string
	UID       types.UID

	// Expression is the cron expression as written in the spec, including a
	// legacy CRON_TZ= or TZ= prefix if the object has one. An engine that
	// takes several expressions (a CronWorkflow's spec.schedules) joins them
	// with ", ", and the schedule's slots are the union of theirs.
	Expression string
	// TimeZone is the spec's time zone field, empty when unset.
	TimeZone          string
	ConcurrencyPolicy string
	Suspended         bool
	// StartingDeadline is spec.startingDeadlineSeconds, nil when unset.
	StartingDeadline *time.Duration

	Created        time.Time
	LastScheduled  *time.Time
	LastSuccessful *time.Time

	// FailedChecks lists the batch checklist items the spec does not meet.
	FailedChecks []string
}

// WorkloadRef is the stable identity that runs belong to: the owning
// schedule, a template, or for a standalone run a name shared by its reruns.
type WorkloadRef struct {
	Kind string
	Name string
}

// RunState is the stage of a run's life.
type RunState int

const (
	// RunWaiting is a run that has not started: suspended, queued, or with
	// no pod scheduled yet.
	RunWaiting RunState = iota
	// RunActive is a run that started and has not finished.
	RunActive
	// RunSucceeded and RunFailed are finished runs.
	RunSucceeded
	RunFailed
)

// Finished reports whether the run reached a final outcome.
func (s RunState) Finished() bool { return s == RunSucceeded || s == RunFailed }

// Backlog states of a waiting run, the values of the state label.
const (
	BacklogQueued  = "queued"
	BacklogPending = "pending"
)

// Run is one execution: a Job, a Workflow or a SparkApplication.
type Run struct {
	Kind      string
	Namespace string
	Name      string
	UID       types.UID
	Workload  WorkloadRef

	// ScheduleUID is the UID of the schedule that created the run, empty for
	// a run started by hand.
	ScheduleUID types.UID
	// ScheduledAt is the slot the run was created for, when known.
	ScheduledAt *time.Time

	State    RunState
	Created  time.Time
	Started  *time.Time
	Finished *time.Time
	// Reason is the reason of the condition that finished the run, such as
	// BackoffLimitExceeded or DeadlineExceeded.
	Reason string

	// Deadline is the run's active deadline, nil when it has none.
	Deadline *time.Duration
	// Retries and RetryLimit count failed attempts; RetryLimit is nil when
	// the engine sets no limit.
	Retries    int32
	RetryLimit *int32

	// BacklogState is queued or pending for a waiting run, Queue the queue
	// name it waits in (empty when none), and WaitingSince the start of the
	// wait.
	BacklogState string
	Queue        string
	WaitingSince time.Time

	// FailedChecks lists the batch checklist items of a standalone run; runs
	// created by a schedule are checked through the schedule.
	FailedChecks []string
}

// Duration is the time from start to finish of a finished run.
func (r *Run) Duration() (time.Duration, bool) {
	if r.Started == nil || r.Finished == nil || r.Finished.Before(*r.Started) {
		return 0, false
	}
	return r.Finished.Sub(*r.Started), true
}

// PodFailure is one failed pod or one container restart of a run.
type PodFailure struct {
	Reason   string
	ExitCode string
}
