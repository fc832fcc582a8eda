package collector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseJoinedExpressions(t *testing.T) {
	tests := []struct {
		name         string
		expression   string
		timeZone     string
		after        string
		wantSlots    []string
		wantZone     string
		wantInterval time.Duration
	}{
		{
			name:       "two daily times in a named zone",
			expression: "0 8 * * *, 0 20 * * *",
			timeZone:   "Europe/Berlin",
			after:      "2026-12-04T06:00:00Z",
			// Berlin is UTC+1 in December.
			wantSlots:    []string{"2026-12-04T07:00:00Z", "2026-12-04T19:00:00Z", "2026-12-05T07:00:00Z"},
			wantZone:     "Europe/Berlin",
			wantInterval: 12 * time.Hour,
		},
		{
			name:         "a shared slot counts once",
			expression:   "0 */6 * * *, 0 12 * * *",
			after:        "2026-12-04T05:00:00Z",
			wantSlots:    []string{"2026-12-04T06:00:00Z", "2026-12-04T12:00:00Z", "2026-12-04T18:00:00Z"},
			wantZone:     "UTC",
			wantInterval: 6 * time.Hour,
		},
		{
			name:         "each expression in its own legacy zone",
			expression:   "CRON_TZ=Asia/Tokyo 0 9 * * *, CRON_TZ=America/New_York 0 9 * * *",
			after:        "2026-12-04T00:00:00Z",
			wantSlots:    []string{"2026-12-04T14:00:00Z", "2026-12-05T00:00:00Z", "2026-12-05T14:00:00Z"},
			wantZone:     "Asia/Tokyo, America/New_York",
			wantInterval: 10 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parsed, err := parseSchedule(tt.expression, tt.timeZone, "UTC")
			require.NoError(t, err)
			assert.Equal(t, tt.wantZone, parsed.zone, "zone label")

			var got []string
			slot := at(tt.after)
			for range tt.wantSlots {
				slot = parsed.cron.Next(slot)
				got = append(got, slot.UTC().Format(time.RFC3339))
			}
			assert.Equal(t, tt.wantSlots, got, "slots")

			v := evaluateSchedule(&Schedule{Expression: tt.expression, Suspended: true}, parsed, nil, at(tt.wantSlots[0]).Add(time.Minute), time.Minute)
			assert.True(t, v.hasInterval, "interval missing")
			assert.Equal(t, tt.wantInterval, v.interval, "interval after the first slot")
		})
	}
}

func TestParseJoinedExpressionsInvalid(t *testing.T) {
	tests := []struct {
		name, expression, timeZone, wantReason string
	}{
		{name: "second expression invalid", expression: "0 8 * * *, 0 25 * * *", wantReason: reasonInvalidSchedule},
		{name: "trailing separator", expression: "0 8 * * *, ", wantReason: reasonInvalidSchedule},
		{name: "one never matches", expression: "0 8 * * *, 0 0 31 2 *", wantReason: reasonInvalidSchedule},
		{name: "unknown zone for both", expression: "0 8 * * *, 0 20 * * *", timeZone: "Mars/Olympus_Mons", wantReason: reasonUnknownTimeZone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSchedule(tt.expression, tt.timeZone, "UTC")
			require.Error(t, err)
			assert.Equal(t, tt.wantReason, invalidReason(err))
		})
	}
}

func TestEvaluateJoinedExpressions(t *testing.T) {
	s := &Schedule{
		Expression:    "0 8 * * *, 0 20 * * *",
		TimeZone:      "Europe/Berlin",
		Created:       at("2026-11-01T00:00:00Z"),
		LastScheduled: atPtr("2026-12-03T19:00:00Z"),
	}
	parsed, err := parseSchedule(s.Expression, s.TimeZone, "UTC")
	require.NoError(t, err)

	// 07:00Z (08:00 Berlin) passed without a run; 19:00Z is still ahead.
	v := evaluateSchedule(s, parsed, nil, at("2026-12-04T09:00:00Z"), 5*time.Minute)

	assert.Equal(t, 1, v.missedNotStarted, "missed not_started")
	assert.Equal(t, 2*time.Hour, v.overdue, "overdue")
	assert.Equal(t, at("2026-12-04T19:00:00Z").UTC(), v.next.UTC(), "next slot")
	assert.Equal(t, 12*time.Hour, v.interval, "interval")
}
