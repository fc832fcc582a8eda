package collector

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
)

// scheduleFromCronJob builds the Schedule of a CronJob.
func scheduleFromCronJob(cj *batchv1.CronJob) *Schedule {
	s := &Schedule{
		Kind:              kindCronJob,
		Namespace:         cj.Namespace,
		Name:              cj.Name,
		UID:               cj.UID,
		Expression:        cj.Spec.Schedule,
		ConcurrencyPolicy: string(cj.Spec.ConcurrencyPolicy),
		Suspended:         cj.Spec.Suspend != nil && *cj.Spec.Suspend,
		Created:           cj.CreationTimestamp.Time,
		LastScheduled:     timePtr(cj.Status.LastScheduleTime),
		LastSuccessful:    timePtr(cj.Status.LastSuccessfulTime),
	}
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = string(batchv1.AllowConcurrent)
	}
	if cj.Spec.TimeZone != nil {
		s.TimeZone = *cj.Spec.TimeZone
	}
	if cj.Spec.StartingDeadlineSeconds != nil {
		d := time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second
		s.StartingDeadline = &d
	}

	// The CronJob's history limits clean up its Jobs, so a missing TTL is
	// no gap for it; the other items apply to the Job template.
	for _, check := range jobChecks(&cj.Spec.JobTemplate.Spec) {
		if check != checkNoTTL {
			s.FailedChecks = append(s.FailedChecks, check)
		}
	}
	if s.StartingDeadline == nil {
		s.FailedChecks = append(s.FailedChecks, checkNoStartingDeadline)
	}
	return s
}
