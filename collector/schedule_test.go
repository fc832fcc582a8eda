package collector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"
)

func at(value string) time.Time {
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		panic(err)
	}
	return t
}

func atPtr(value string) *time.Time {
	t := at(value)
	return &t
}

// Every expected value below is worked out by hand from the rules of the
// cron library and of the CronJob controller. robfig/cron v3 returns the next
// matching second strictly after a time, in the schedule's zone, and steps
// hours in absolute time across daylight saving changes. The controller
// counts slots after lastScheduleTime or creation and uses
// startingDeadlineSeconds as the grace.
func TestEvaluateSchedule(t *testing.T) {
	tests := []struct {
		name        string
		schedule    Schedule
		defaultZone string
		runs        []*Run
		now         string
		grace       time.Duration

		wantNext       string // empty: no next slot
		wantInterval   time.Duration
		wantNotStarted int
		wantForbidden  int
		wantOverdue    time.Duration
	}{
		{
			name:           "hourly slots past grace are missed",
			schedule:       Schedule{Expression: "0 * * * *", LastScheduled: atPtr("2026-12-04T10:00:00Z")},
			now:            "2026-12-04T12:30:00Z",
			wantNext:       "2026-12-04T13:00:00Z",
			wantInterval:   time.Hour,
			wantNotStarted: 2, // 11:00 and 12:00
			wantOverdue:    90 * time.Minute,
		},
		{
			name:         "slot within grace is not missed",
			schedule:     Schedule{Expression: "0 * * * *", LastScheduled: atPtr("2026-12-04T11:00:00Z")},
			now:          "2026-12-04T12:03:00Z",
			wantNext:     "2026-12-04T13:00:00Z",
			wantInterval: time.Hour,
		},
		{
			name:           "hourly macro",
			schedule:       Schedule{Expression: "@hourly", LastScheduled: atPtr("2026-12-04T10:00:00Z")},
			now:            "2026-12-04T12:30:00Z",
			wantNext:       "2026-12-04T13:00:00Z",
			wantInterval:   time.Hour,
			wantNotStarted: 2,
			wantOverdue:    90 * time.Minute,
		},
		{
			name: "daily in Asia/Shanghai with startingDeadlineSeconds",
			schedule: Schedule{Expression: "0 8 * * *", TimeZone: "Asia/Shanghai", ConcurrencyPolicy: "Forbid",
				StartingDeadline: ptr.To(5 * time.Minute), LastScheduled: atPtr("2026-12-03T00:00:00Z")},
			// 08:00 in Shanghai (UTC+8, no daylight saving) is 00:00 UTC.
			now:            "2026-12-04T00:10:00Z",
			wantNext:       "2026-12-05T00:00:00Z",
			wantInterval:   24 * time.Hour,
			wantNotStarted: 1,
			wantOverdue:    10 * time.Minute,
		},
		{
			name: "slot inside the spring-forward gap in New York does not exist",
			// 2026-03-08 02:00 EST jumps to 03:00 EDT, so 02:30 never
			// happens that day; the next slot is 02:30 EDT on 03-09.
			schedule:     Schedule{Expression: "30 2 * * *", TimeZone: "America/New_York", LastScheduled: atPtr("2026-03-07T07:30:00Z")},
			now:          "2026-03-08T12:00:00Z",
			wantNext:     "2026-03-09T06:30:00Z",
			wantInterval: 47 * time.Hour,
		},
		{
			name: "slot in the repeated hour in New York happens twice",
			// 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 is
			// 05:30 UTC (EDT) and again 06:30 UTC (EST).
			schedule:       Schedule{Expression: "30 1 * * *", TimeZone: "America/New_York", LastScheduled: atPtr("2026-10-31T05:30:00Z")},
			now:            "2026-11-01T07:00:00Z",
			wantNext:       "2026-11-02T06:30:00Z",
			wantInterval:   24 * time.Hour,
			wantNotStarted: 2,
			wantOverdue:    90 * time.Minute,
		},
		{
			name: "02:00 happens twice when Berlin falls back",
			// 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:00 is
			// 00:00 UTC (CEST) and 01:00 UTC (CET).
			schedule:       Schedule{Expression: "0 2 * * *", TimeZone: "Europe/Berlin", LastScheduled: atPtr("2026-10-24T00:00:00Z")},
			now:            "2026-10-25T01:30:00Z",
			wantNext:       "2026-10-26T01:00:00Z",
			wantInterval:   24 * time.Hour,
			wantNotStarted: 2,
			wantOverdue:    90 * time.Minute,
		},
		{
			name: "02:30 does not exist when Berlin springs forward",
			// 2026-03-29 02:00 CET jumps to 03:00 CEST.
			schedule:     Schedule{Expression: "30 2 * * *", TimeZone: "Europe/Berlin", LastScheduled: atPtr("2026-03-28T01:30:00Z")},
			now:          "2026-03-29T12:00:00Z",
			wantNext:     "2026-03-30T00:30:00Z",
			wantInterval: 47 * time.Hour,
		},
		{
			name: "Etc/GMT-1 is one hour east of UTC",
			// The POSIX sign is inverted: Etc/GMT-1 is UTC+1, so 08:00 is
			// 07:00 UTC.
			schedule:       Schedule{Expression: "0 8 * * *", TimeZone: "Etc/GMT-1", LastScheduled: atPtr("2026-12-03T07:00:00Z")},
			now:            "2026-12-04T07:10:00Z",
			wantNext:       "2026-12-05T07:00:00Z",
			wantInterval:   24 * time.Hour,
			wantNotStarted: 1,
			wantOverdue:    10 * time.Minute,
		},
		{
			name:           "legacy TZ prefix",
			schedule:       Schedule{Expression: "TZ=Asia/Shanghai 0 8 * * *", LastScheduled: atPtr("2026-12-03T00:00:00Z")},
			now:            "2026-12-04T00:10:00Z",
			wantNext:       "2026-12-05T00:00:00Z",
			wantInterval:   24 * time.Hour,
			wantNotStarted: 1,
			wantOverdue:    10 * time.Minute,
		},
		{
			name: "legacy prefix wins over spec.timeZone as in the controller",
			schedule: Schedule{Expression: "CRON_TZ=UTC 0 8 * * *", TimeZone: "Asia/Shanghai",
				LastScheduled: atPtr("2026-12-03T08:00:00Z")},
			now:          "2026-12-04T07:00:00Z",
			wantNext:     "2026-12-04T08:00:00Z",
			wantInterval: 24 * time.Hour,
		},
		{
			name:           "default zone applies without a zone",
			schedule:       Schedule{Expression: "0 8 * * *", LastScheduled: atPtr("2026-12-03T00:00:00Z")},
			defaultZone:    "Asia/Shanghai",
			now:            "2026-12-04T00:10:00Z",
			wantNext:       "2026-12-05T00:00:00Z",
			wantInterval:   24 * time.Hour,
			wantNotStarted: 1,
			wantOverdue:    10 * time.Minute,
		},
		{
			name:         "suspended schedule misses nothing and has no next slot",
			schedule:     Schedule{Expression: "0 * * * *", Suspended: true, LastScheduled: atPtr("2026-12-04T01:00:00Z")},
			now:          "2026-12-04T12:30:00Z",
			wantInterval: time.Hour,
		},
		{
			name: "Forbid skips slots while a run is active",
			schedule: Schedule{Expression: "0 * * * *", ConcurrencyPolicy: "Forbid",
				LastScheduled: atPtr("2026-12-04T00:00:00Z")},
			runs:          []*Run{{Name: "r", Created: at("2026-12-04T00:00:00Z"), State: RunActive}},
			now:           "2026-12-04T02:30:00Z",
			wantNext:      "2026-12-04T03:00:00Z",
			wantInterval:  time.Hour,
			wantForbidden: 2, // 01:00 and 02:00
			wantOverdue:   90 * time.Minute,
		},
		{
			name: "Forbid slot after the run finished is not started",
			schedule: Schedule{Expression: "0 * * * *", ConcurrencyPolicy: "Forbid",
				LastScheduled: atPtr("2026-12-04T00:00:00Z")},
			runs: []*Run{{Name: "r", Created: at("2026-12-04T00:00:00Z"), State: RunSucceeded,
				Finished: atPtr("2026-12-04T01:30:00Z")}},
			now:            "2026-12-04T02:30:00Z",
			wantNext:       "2026-12-04T03:00:00Z",
			wantInterval:   time.Hour,
			wantForbidden:  1, // 01:00
			wantNotStarted: 1, // 02:00
			wantOverdue:    90 * time.Minute,
		},
		{
			name:           "Allow with an active run is not a policy skip",
			schedule:       Schedule{Expression: "0 * * * *", ConcurrencyPolicy: "Allow", LastScheduled: atPtr("2026-12-04T00:00:00Z")},
			runs:           []*Run{{Name: "r", Created: at("2026-12-04T00:00:00Z"), State: RunActive}},
			now:            "2026-12-04T01:30:00Z",
			wantNext:       "2026-12-04T02:00:00Z",
			wantInterval:   time.Hour,
			wantNotStarted: 1,
			wantOverdue:    30 * time.Minute,
		},
		{
			name:     "missed slots stop at the controller's 100",
			schedule: Schedule{Expression: "* * * * *", LastScheduled: atPtr("2026-12-04T07:00:00Z")},
			now:      "2026-12-04T12:00:00Z",
			wantNext: "2026-12-04T12:01:00Z",
			// 07:01 is the oldest of the 295 slots before 11:55.
			wantInterval:   time.Minute,
			wantNotStarted: 100,
			wantOverdue:    4*time.Hour + 59*time.Minute,
		},
		{
			name: "day of month OR day of week",
			// "0 0 13 * 5" fires on the 13th and on every Friday: after
			// Friday 2026-01-09 comes Tuesday the 13th, then Friday the 16th.
			schedule:       Schedule{Expression: "0 0 13 * 5", LastScheduled: atPtr("2026-01-09T00:00:00Z")},
			now:            "2026-01-13T12:00:00Z",
			wantNext:       "2026-01-16T00:00:00Z",
			wantInterval:   3 * 24 * time.Hour,
			wantNotStarted: 1,
			wantOverdue:    12 * time.Hour,
		},
		{
			name: "step values in minutes and hours on weekdays",
			// Minutes 0,15,30,45 of hours 9, 13 and 17, Monday to Friday;
			// 2026-12-04 is a Friday.
			schedule:       Schedule{Expression: "*/15 9-17/4 * * 1-5", LastScheduled: atPtr("2026-12-04T09:00:00Z")},
			now:            "2026-12-04T10:00:00Z",
			wantNext:       "2026-12-04T13:00:00Z",
			wantInterval:   3*time.Hour + 15*time.Minute,
			wantNotStarted: 3,
			wantOverdue:    45 * time.Minute,
		},
		{
			name:         "weekday schedule over a weekend",
			schedule:     Schedule{Expression: "0 8 * * 1-5", LastScheduled: atPtr("2026-12-04T08:00:00Z")},
			now:          "2026-12-06T12:00:00Z",
			wantNext:     "2026-12-07T08:00:00Z",
			wantInterval: 72 * time.Hour,
		},
		{
			name: "startingDeadlineSeconds replaces the grace",
			schedule: Schedule{Expression: "0 * * * *", StartingDeadline: ptr.To(40 * time.Minute),
				LastScheduled: atPtr("2026-12-04T10:00:00Z")},
			now:            "2026-12-04T12:30:00Z",
			wantNext:       "2026-12-04T13:00:00Z",
			wantInterval:   time.Hour,
			wantNotStarted: 1, // 11:00; 12:00 is still within 40 minutes
			wantOverdue:    90 * time.Minute,
		},
		{
			name:           "never scheduled counts from creation",
			schedule:       Schedule{Expression: "0 * * * *", Created: at("2026-12-04T10:10:00Z")},
			now:            "2026-12-04T12:30:00Z",
			wantNext:       "2026-12-04T13:00:00Z",
			wantInterval:   time.Hour,
			wantNotStarted: 2,
			wantOverdue:    90 * time.Minute,
		},
		{
			name:         "run created before the status update is not missed",
			schedule:     Schedule{Expression: "0 * * * *", LastScheduled: atPtr("2026-12-04T10:00:00Z")},
			runs:         []*Run{{Name: "r", Created: at("2026-12-04T11:00:00Z"), ScheduledAt: atPtr("2026-12-04T11:00:00Z"), State: RunActive}},
			now:          "2026-12-04T11:30:00Z",
			wantNext:     "2026-12-04T12:00:00Z",
			wantInterval: time.Hour,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zone := tt.defaultZone
			if zone == "" {
				zone = "UTC"
			}
			grace := tt.grace
			if grace == 0 {
				grace = 5 * time.Minute
			}
			parsed, err := parseSchedule(tt.schedule.Expression, tt.schedule.TimeZone, zone)
			require.NoError(t, err)

			v := evaluateSchedule(&tt.schedule, parsed, tt.runs, at(tt.now), grace)

			if tt.wantNext == "" {
				assert.False(t, v.hasNext, "next slot: got %s, want none", v.next)
			} else {
				assert.True(t, v.hasNext, "next slot missing")
				assert.Equal(t, at(tt.wantNext).UTC(), v.next.UTC(), "next slot")
			}
			assert.True(t, v.hasInterval, "interval missing")
			assert.Equal(t, tt.wantInterval, v.interval, "interval")
			assert.Equal(t, tt.wantNotStarted, v.missedNotStarted, "missed not_started")
			assert.Equal(t, tt.wantForbidden, v.missedForbidden, "missed concurrency_forbidden")
			assert.Equal(t, tt.wantOverdue, v.overdue, "overdue")
		})
	}
}

func TestParseScheduleInvalid(t *testing.T) {
	tests := []struct {
		name       string
		expression string
		timeZone   string
		wantReason string
	}{
		{name: "not a cron expression", expression: "every day at noon", wantReason: reasonInvalidSchedule},
		{name: "six fields", expression: "0 0 * * * *", wantReason: reasonInvalidSchedule},
		{name: "minute out of range", expression: "61 * * * *", wantReason: reasonInvalidSchedule},
		{name: "empty", expression: "", wantReason: reasonInvalidSchedule},
		{name: "never matches", expression: "0 0 31 2 *", wantReason: reasonInvalidSchedule},
		{name: "unknown spec time zone", expression: "0 * * * *", timeZone: "Mars/Olympus_Mons", wantReason: reasonUnknownTimeZone},
		{name: "unknown legacy zone", expression: "CRON_TZ=Nowhere/City 0 * * * *", wantReason: reasonUnknownTimeZone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSchedule(tt.expression, tt.timeZone, "UTC")
			require.Error(t, err)
			assert.Equal(t, tt.wantReason, invalidReason(err))
		})
	}
}

func TestScheduleZoneLabel(t *testing.T) {
	tests := []struct {
		expression, timeZone, want string
	}{
		{"0 * * * *", "", "UTC"},
		{"0 * * * *", "Europe/Berlin", "Europe/Berlin"},
		{"CRON_TZ=Asia/Tokyo 0 * * * *", "", "Asia/Tokyo"},
		{"TZ=Asia/Tokyo 0 * * * *", "Europe/Berlin", "Asia/Tokyo"},
	}
	for _, tt := range tests {
		parsed, err := parseSchedule(tt.expression, tt.timeZone, "UTC")
		require.NoError(t, err, tt.expression)
		assert.Equal(t, tt.want, parsed.zone, tt.expression)
	}
}

func TestSkippedSlots(t *testing.T) {
	tests := []struct {
		name              string
		schedule          Schedule
		runs              []*Run
		previous, current string
		wantNotStarted    int
		wantForbidden     int
	}{
		{
			name:           "controller down for three hours",
			schedule:       Schedule{Expression: "0 * * * *"},
			previous:       "2026-12-04T10:00:00Z",
			current:        "2026-12-04T13:00:00Z",
			wantNotStarted: 2, // 11:00 and 12:00; 13:00 is the started one
		},
		{
			name:     "Forbid while a long run was active",
			schedule: Schedule{Expression: "0 * * * *", ConcurrencyPolicy: "Forbid"},
			runs: []*Run{{Name: "r", Created: at("2026-12-04T10:00:00Z"), State: RunSucceeded,
				Finished: atPtr("2026-12-04T12:30:00Z")}},
			previous:      "2026-12-04T10:00:00Z",
			current:       "2026-12-04T13:00:00Z",
			wantForbidden: 2,
		},
		{
			name:     "consecutive slots skip nothing",
			schedule: Schedule{Expression: "*/5 * * * *"},
			previous: "2026-12-04T10:00:00Z",
			current:  "2026-12-04T10:05:00Z",
		},
		{
			name:     "retained runs of passed slots are not skipped",
			schedule: Schedule{Expression: "0 * * * *"},
			runs: []*Run{{Name: "r", Created: at("2026-12-04T11:00:00Z"), ScheduledAt: atPtr("2026-12-04T11:00:00Z"),
				State: RunSucceeded, Finished: atPtr("2026-12-04T11:10:00Z")}},
			previous:       "2026-12-04T10:00:00Z",
			current:        "2026-12-04T13:00:00Z",
			wantNotStarted: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parsed, err := parseSchedule(tt.schedule.Expression, tt.schedule.TimeZone, "UTC")
			require.NoError(t, err)

			notStarted, forbidden := skippedSlots(&tt.schedule, parsed, tt.runs, at(tt.previous), at(tt.current))

			assert.Equal(t, tt.wantNotStarted, notStarted, "not_started")
			assert.Equal(t, tt.wantForbidden, forbidden, "concurrency_forbidden")
		})
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, seed := range []struct{ expression, zone string }{
		{"0 8 * * *", "Asia/Shanghai"},
		{"*/15 9-17/4 * * 1-5", ""},
		{"@hourly", ""},
		{"@every 90s", ""},
		{"CRON_TZ=Europe/Berlin 30 2 * * *", ""},
		{"TZ=Etc/GMT-1 0 0 1 1,4,7,10 *", "America/New_York"},
		{"0 0 31 2 *", ""},
		{"61 * * * *", "Mars/Olympus_Mons"},
		{"", ""},
	} {
		f.Add(seed.expression, seed.zone)
	}
	now := at("2026-12-04T12:00:00Z")

	f.Fuzz(func(t *testing.T, expression, zone string) {
		parsed, err := parseSchedule(expression, zone, "UTC")
		if err != nil {
			reason := invalidReason(err)
			if reason != reasonInvalidSchedule && reason != reasonUnknownTimeZone {
				t.Fatalf("unexpected reason %q for %q in %q", reason, expression, zone)
			}
			return
		}

		// A parsed schedule must yield bounded values without panicking.
		s := &Schedule{Expression: expression, TimeZone: zone, LastScheduled: atPtr("2026-12-01T00:00:00Z")}
		v := evaluateSchedule(s, parsed, nil, now, 5*time.Minute)
		if v.missedNotStarted < 0 || v.missedNotStarted > maxMissedSlots {
			t.Fatalf("missed slots %d out of range for %q", v.missedNotStarted, expression)
		}
		if v.hasNext && !v.next.After(now) {
			t.Fatalf("next slot %s not after now for %q", v.next, expression)
		}
		if v.overdue < 0 {
			t.Fatalf("negative overdue %s for %q", v.overdue, expression)
		}
	})
}
