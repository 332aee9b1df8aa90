// Command incidentd is the incident daemon: it ingests alert webhooks,
// deduplicates and groups them into incidents, and serves them over HTTP.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/incidentd/incidentd/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var opts daemon.Options
	fs := flag.NewFlagSet("incidentd", flag.ExitOnError)
	fs.StringVar(&opts.ConfigFile, "config.file", "configs/incidentd.yml", "configuration file")
	fs.StringVar(&opts.ListenAddress, "web.listen-address", ":9095", "address to serve the API, ingest and metrics on")
	fs.StringVar(&opts.StorageDSN, "storage.dsn", "", "store: sqlite://PATH or postgres://... (default: storage.dsn of the config file, else "+"sqlite://data/incidentd.db)")
	fs.StringVar(&opts.WebConfigFile, "web.config.file", "", "TLS and basic auth configuration (the Prometheus exporter-toolkit format: tls_server_config, basic_auth_users); empty serves plain HTTP")
	fs.StringVar(&opts.ExternalURL, "web.external-url", os.Getenv("INCIDENTD_EXTERNAL_URL"), "URL under which people reach incidentd (links in pages and mails; default $INCIDENTD_EXTERNAL_URL)")
	checkConfig := fs.Bool("check-config", false, "validate the configuration file and exit: 0 if valid, 1 with file:line: key errors if not")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Parse(os.Args[1:])
	opts.Version = version

	if *showVersion {
		fmt.Println("incidentd", version)
		return
	}
	if *checkConfig {
		if _, err := daemon.LoadConfig(opts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(opts.ConfigFile + ": valid")
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	opts.Reload = hup

	if err := daemon.Run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "incidentd:", err)
		os.Exit(1)
	}
}
