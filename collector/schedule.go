package collector

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	// Named zones must resolve the same on every image, including distroless
	// ones without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// Reasons of batchwatch_schedule_invalid.
const (
	reasonInvalidSchedule = "invalid_schedule"
	reasonUnknownTimeZone = "unknown_time_zone"
)

// Reasons of batchwatch_schedule_missed_runs and skipped_runs_total.
const (
	reasonNotStarted           = "not_started"
	reasonConcurrencyForbidden = "concurrency_forbidden"
)

// maxMissedSlots is the count of missed start times past which the CronJob
// controller reports "too many missed start times"; missed_runs stops there.
const maxMissedSlots = 100

// maxSkippedSlots bounds the slots counted for one move of lastScheduleTime,
// so a clock decades off cannot stall an event handler.
const maxSkippedSlots = 100000

// ErrInvalidSchedule is returned for an expression or time zone that the
// controller cannot parse; Reason names which.
type ErrInvalidSchedule struct {
	Reason string
	Err    error
}

func (e *ErrInvalidSchedule) Error() string { return e.Err.Error() }

func (e *ErrInvalidSchedule) Unwrap() error { return e.Err }

// parsedSchedule is a cron expression bound to the zone it runs in.
type parsedSchedule struct {
	cron cron.Schedule
	// zone is the time zone name, the value of the timezone label. Joined
	// expressions that name different zones list each zone once.
	zone string
}

// scheduleParser parses expressions the way the CronJob controller does and
// caches the result, because the same few expressions are parsed on every
// scrape.
type scheduleParser struct {
	defaultZone string

	mu    sync.Mutex
	cache map[string]parsedResult
}

type parsedResult struct {
	schedule parsedSchedule
	err      error
}

// maxCachedSchedules bounds the parse cache; past it the cache starts over.
const maxCachedSchedules = 10000

func newScheduleParser(defaultZone string) *scheduleParser {
	return &scheduleParser{defaultZone: defaultZone, cache: map[string]parsedResult{}}
}

func (p *scheduleParser) parse(expression, timeZone string) (parsedSchedule, error) {
	key := timeZone + "\x00" + expression
	p.mu.Lock()
	defer p.mu.Unlock()
	if cached, ok := p.cache[key]; ok {
		return cached.schedule, cached.err
	}

	schedule, err := parseSchedule(expression, timeZone, p.defaultZone)
	if len(p.cache) >= maxCachedSchedules {
		p.cache = map[string]parsedResult{}
	}
	p.cache[key] = parsedResult{schedule: schedule, err: err}
	return schedule, err
}

// scheduleZone resolves the zone as the CronJob controller does
// (pkg/controller/cronjob formatSchedule in Kubernetes 1.37). An expression
// that mentions TZ carries its own zone, whatever spec.timeZone contains.
// Without one, spec.timeZone applies, and without that the
// controller-manager's own zone, which batchwatch takes from defaultZone. The returned spec is what
// the cron parser reads.
func scheduleZone(expression, timeZone, defaultZone string) (zone, spec string) {
	switch {
	case strings.Contains(expression, "TZ"):
		return legacyZone(expression), expression
	case timeZone != "":
		return timeZone, "CRON_TZ=" + timeZone + " " + expression
	default:
		return defaultZone, "CRON_TZ=" + defaultZone + " " + expression
	}
}

// expressionSeparator joins the cron expressions of a schedule that has
// several, such as a CronWorkflow's spec.schedules. No single valid
// expression contains it: fields are separated by spaces, and a list inside a
// field has no space after its commas.
const expressionSeparator = ", "

// parseSchedule parses an expression in its zone with the parser the
// controllers use, cron.ParseStandard. An expression that joins several with
// expressionSeparator yields the union of their slots, and is invalid when
// any of them is, as the Argo controller rejects such a CronWorkflow.
func parseSchedule(expression, timeZone, defaultZone string) (parsedSchedule, error) {
	parts := strings.Split(expression, expressionSeparator)
	if len(parts) == 1 {
		return parseExpression(expression, timeZone, defaultZone)
	}

	union := make(unionSchedule, 0, len(parts))
	var zones []string
	for _, part := range parts {
		parsed, err := parseExpression(part, timeZone, defaultZone)
		if err != nil {
			return parsedSchedule{}, err
		}
		union = append(union, parsed.cron)
		if !slices.Contains(zones, parsed.zone) {
			zones = append(zones, parsed.zone)
		}
	}
	return parsedSchedule{cron: union, zone: strings.Join(zones, expressionSeparator)}, nil
}

// unionSchedule starts a run at every slot of any of its schedules; a slot
// that several schedules share is one slot.
type unionSchedule []cron.Schedule

// Next returns the earliest slot after t among the schedules, or the zero
// time when none has one.
func (u unionSchedule) Next(t time.Time) time.Time {
	var earliest time.Time
	for _, schedule := range u {
		next := schedule.Next(t)
		if !next.IsZero() && (earliest.IsZero() || next.Before(earliest)) {
			earliest = next
		}
	}
	return earliest
}

// parseExpression parses one cron expression in its zone.
func parseExpression(expression, timeZone, defaultZone string) (parsedSchedule, error) {
	zone, spec := scheduleZone(expression, timeZone, defaultZone)
	if zone != "" {
		if _, err := time.LoadLocation(zone); err != nil {
			return parsedSchedule{}, &ErrInvalidSchedule{Reason: reasonUnknownTimeZone, Err: fmt.Errorf("unknown time zone %q: %w", zone, err)}
		}
	}
	parsed, err := cron.ParseStandard(spec)
	if err != nil {
		return parsedSchedule{}, &ErrInvalidSchedule{Reason: reasonInvalidSchedule, Err: fmt.Errorf("invalid schedule %q: %w", expression, err)}
	}

	// An expression such as "0 0 31 2 *" parses but never matches. The
	// controller rejects it because two consecutive slots are not a second
	// apart, and the cron library returns the zero time for it.
	if parsed.Next(time.Unix(0, 0)).IsZero() {
		return parsedSchedule{}, &ErrInvalidSchedule{Reason: reasonInvalidSchedule, Err: fmt.Errorf("schedule %q never matches a time", expression)}
	}
	return parsedSchedule{cron: parsed, zone: zone}, nil
}

// legacyZone returns the zone of a CRON_TZ= or TZ= prefix, empty when the
// expression has none.
func legacyZone(expression string) string {
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(expression, prefix); ok {
			zone, _, _ := strings.Cut(rest, " ")
			return zone
		}
	}
	return ""
}

// invalidReason returns the schedule_invalid reason of a parse error.
func invalidReason(err error) string {
	var invalid *ErrInvalidSchedule
	if errors.As(err, &invalid) {
		return invalid.Reason
	}
	return reasonInvalidSchedule
}

// slotsBetween returns the slots in (after, until], at most limit of them,
// and whether more slots follow in that range.
func slotsBetween(schedule cron.Schedule, after, until time.Time, limit int) ([]time.Time, bool) {
	var slots []time.Time
	for t := schedule.Next(after); !t.IsZero() && !t.After(until); t = schedule.Next(t) {
		if len(slots) == limit {
			return slots, true
		}
		slots = append(slots, t)
	}
	return slots, false
}

// maxSlotSearch bounds the backward search for the latest slot; the cron
// library itself gives up on a schedule after five years.
const maxSlotSearch = 6 * 366 * 24 * time.Hour

// previousSlot returns the latest slot at or before now. The cron library
// only steps forward, so it searches windows of growing size back from now.
func previousSlot(schedule cron.Schedule, now time.Time) (time.Time, bool) {
	next := schedule.Next(now)
	if next.IsZero() {
		return time.Time{}, false
	}
	window := schedule.Next(next).Sub(next)
	if window <= 0 {
		window = time.Minute
	}

	for ; window <= maxSlotSearch; window *= 2 {
		slot := schedule.Next(now.Add(-window))
		if slot.IsZero() || slot.After(now) {
			continue
		}
		for {
			following := schedule.Next(slot)
			if following.IsZero() || following.After(now) {
				return slot, true
			}
			slot = following
		}
	}
	return time.Time{}, false
}

// scheduleValues are the values derived from a schedule at one instant.
type scheduleValues struct {
	next        time.Time
	hasNext     bool
	interval    time.Duration
	hasInterval bool

	missedNotStarted int
	missedForbidden  int
	overdue          time.Duration
}

// evaluateSchedule derives the values of one valid schedule at now. runs are
// the schedule's retained runs; grace applies when the schedule sets no
// startingDeadlineSeconds.
func evaluateSchedule(s *Schedule, parsed parsedSchedule, runs []*Run, now time.Time, grace time.Duration) scheduleValues {
	var v scheduleValues

	if !s.Suspended {
		if next := parsed.cron.Next(now); !next.IsZero() {
			v.next, v.hasNext = next, true
		}
	}
	if previous, ok := previousSlot(parsed.cron, now); ok {
		if next := parsed.cron.Next(now); !next.IsZero() {
			v.interval, v.hasInterval = next.Sub(previous), true
		}
	}

	// A suspended schedule misses nothing: the controller starts no run
	// and, once resumed, only slots that are still within grace.
	if s.Suspended {
		return v
	}

	if s.StartingDeadline != nil {
		grace = *s.StartingDeadline
	}
	earliest := s.Created
	if s.LastScheduled != nil {
		earliest = *s.LastScheduled
	}
	missedBefore := now.Add(-grace)

	// Slots come oldest first, so the first maxMissedSlots of them hold
	// every value that is reported, including the oldest for overdue.
	slots, _ := slotsBetween(parsed.cron, earliest, missedBefore, maxMissedSlots)
	for _, slot := range slots {
		if slotHasRun(runs, slot) {
			continue
		}
		if v.missedNotStarted+v.missedForbidden == 0 {
			v.overdue = now.Sub(slot)
		}
		if forbiddenAt(s, runs, slot) {
			v.missedForbidden++
		} else {
			v.missedNotStarted++
		}
	}
	return v
}

// slotHasRun reports whether a retained run was created for the slot. The
// controller records lastScheduleTime together with the run, so this only
// matters while its status update is still on the way.
func slotHasRun(runs []*Run, slot time.Time) bool {
	for _, r := range runs {
		if r.ScheduledAt != nil && r.ScheduledAt.Equal(slot) {
			return true
		}
	}
	return false
}

// forbiddenAt reports whether concurrencyPolicy Forbid kept the controller
// from starting the slot: another run was active at that time.
func forbiddenAt(s *Schedule, runs []*Run, slot time.Time) bool {
	if s.ConcurrencyPolicy != "Forbid" {
		return false
	}
	for _, r := range runs {
		if r.Created.After(slot) {
			continue
		}
		if r.Finished == nil || r.Finished.After(slot) {
			return true
		}
	}
	return false
}

// skippedSlots counts the slots in (previous, current) that got no run, by
// reason: the controller started current and dropped them.
func skippedSlots(s *Schedule, parsed parsedSchedule, runs []*Run, previous, current time.Time) (notStarted, forbidden int) {
	slots, _ := slotsBetween(parsed.cron, previous, current.Add(-time.Second), maxSkippedSlots)
	for _, slot := range slots {
		if slotHasRun(runs, slot) {
			continue
		}
		if forbiddenAt(s, runs, slot) {
			forbidden++
		} else {
			notStarted++
		}
	}
	return notStarted, forbidden
}
