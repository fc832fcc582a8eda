// Command batchwatch exports Prometheus metrics for Kubernetes batch workloads
// and generates the alert rules and dashboards that go with them.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "batchwatch:", err)
		os.Exit(1)
	}
}

// action runs a subcommand with the logger built from the global flags.
type action func(logger *slog.Logger) error

// run parses the command line and runs one subcommand. Each subcommand file
// registers its flags on its own CmdClause and returns its action.
func run(args []string) error {
	app := kingpin.New("batchwatch", "Prometheus exporter and alert pack for Kubernetes batch workloads.")
	app.Version(version.Print("batchwatch"))
	app.HelpFlag.Short('h')
	logConfig := &promslog.Config{Writer: os.Stderr}
	promslogflag.AddFlags(app, logConfig)

	commands := map[string]action{}
	for _, register := range []func(*kingpin.Application) (string, action){
		registerServe,
		registerEvaluate,
		registerGenerate,
		registerVersion,
	} {
		name, act := register(app)
		commands[name] = act
	}

	selected, err := app.Parse(args)
	if err != nil {
		return err
	}
	return commands[selected](promslog.New(logConfig))
}
