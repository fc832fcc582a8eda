package main

import (
	"fmt"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

func registerVersion(app *kingpin.Application) (string, func() error) {
	cmd := app.Command("version", "Print the version and build information.")
	return cmd.FullCommand(), func() error {
		fmt.Println(version.Print("batchwatch"))
		return nil
	}
}
