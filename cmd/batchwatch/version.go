package main

import (
	"fmt"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

func registerVersion(app *kingpin.Application) (string, action) {
	cmd := app.Command("version", "Print the version and build information.")
	return cmd.FullCommand(), func(*slog.Logger) error {
		fmt.Println(version.Print("batchwatch"))
		return nil
	}
}
