package main

import (
	"errors"

	"github.com/alecthomas/kingpin/v2"
)

func registerServe(app *kingpin.Application) (string, func() error) {
	cmd := app.Command("serve", "Watch the cluster and serve /metrics.")
	return cmd.FullCommand(), func() error { return errors.New("serve: not built yet") }
}
