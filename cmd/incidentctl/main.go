// Command incidentctl is the operator's command line for incidentd: it lists,
// shows, explains and acts on incidents and alerts through incidentd's JSON
// API, imports, exports and queries the CMDB, and checks configuration files
// offline.
//
//	incidentctl [global flags] COMMAND [flags] [args]
//
// Run incidentctl --help for the commands and flags.
package main

import (
	"io"
	"os"
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed: API error, unreachable server, invalid config
	exitUsage = 2 // the command line is wrong
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args (without the program name), writing to
// stdout and stderr, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now}
	return a.run(args)
}
