// Command batchwatch exports Prometheus metrics for Kubernetes batch workloads
// and generates the alert rules and dashboards that go with them.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "batchwatch:", err)
		os.Exit(1)
	}
}

// run parses the command line and runs one subcommand. Each subcommand file
// registers its flags on its own CmdClause and returns the action to run.
func run(args []string) error {
	app := kingpin.New("batchwatch", "Prometheus exporter and alert pack for Kubernetes batch workloads.")
	app.Version(version.Print("batchwatch"))
	app.HelpFlag.Short('h')

	commands := map[string]func() error{}
	for _, register := range []func(*kingpin.Application) (string, func() error){
		registerServe,
		registerEvaluate,
		registerGenerate,
		registerVersion,
	} {
		name, action := register(app)
		commands[name] = action
	}

	selected, err := app.Parse(args)
	if err != nil {
		return err
	}
	return commands[selected]()
}
