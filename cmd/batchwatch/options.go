package main

import (
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// modelOptions are the flags serve and evaluate share: how slots and zones
// are judged.
type modelOptions struct {
	scheduleGrace   time.Duration
	defaultTimeZone string
}

func addModelFlags(cmd *kingpin.CmdClause) *modelOptions {
	opts := &modelOptions{}
	cmd.Flag("schedule-grace", "How long a slot may wait for its run before it counts as missed, for schedules without startingDeadlineSeconds.").
		Default("5m").DurationVar(&opts.scheduleGrace)
	cmd.Flag("default-timezone", "Time zone of schedules that name none: the kube-controller-manager's own zone, which the API does not show.").
		Default("UTC").StringVar(&opts.defaultTimeZone)
	return opts
}

func (o *modelOptions) validate() error {
	if _, err := time.LoadLocation(o.defaultTimeZone); err != nil {
		return fmt.Errorf("invalid --default-timezone %q: %w", o.defaultTimeZone, err)
	}
	if o.scheduleGrace < 0 {
		return fmt.Errorf("invalid --schedule-grace %s: must not be negative", o.scheduleGrace)
	}
	return nil
}
