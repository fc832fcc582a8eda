package main

import (
	"errors"

	"github.com/alecthomas/kingpin/v2"
)

func registerEvaluate(app *kingpin.Application) (string, func() error) {
	cmd := app.Command("evaluate", "Print the metrics of objects read from files.")
	return cmd.FullCommand(), func() error { return errors.New("evaluate: not built yet") }
}
