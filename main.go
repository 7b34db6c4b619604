package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/cli/logcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tuneGC(os.Getenv)
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// The proxy's memory, not a command's: an export of a large log may need more.
		tuneMemory(os.Getenv)
		go releaseWhenIdle(ctx)
	}
	if err := run(ctx, os.Args, os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, cli.ErrFailures) {
			fmt.Fprintln(os.Stderr, "mtguard:", err)
		}
		os.Exit(exitCode(err))
	}
}

// defaultGCPercent is the garbage collector's target when GOGC is not set. mtguard's live
// heap is small (the log lives in bbolt's file mapping, not on the heap) and nearly all its
// garbage is per call, so letting the heap grow to nine times the live data before a cycle
// costs little memory. It saves CPU on every call against Go's default of 100, and each cycle
// it avoids is a stretch of tens of milliseconds in which two CPUs lose a quarter of their
// time to marking: 800 instead of 400 took a median 2.9 ms off the p99 at the 20 ms vendor
// in the proxy benchmark, for 60-90 MB more at peak (see bench/README.md).
const defaultGCPercent = 800

// tuneGC sets the GC target unless the operator chose one with GOGC.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// usage is the top-level help.
const usage = `mtguard: a transparent proxy that records and checks the calls between marketing tools and vendors

Usage:
  mtguard serve --config FILE        run the proxy and the admin API
  mtguard check-config FILE          check a config file and report every mistake with its line
  mtguard demo [--once] [--keep]     run a fake CRM and the proxy on loopback and send sample leads (--listen, --admin)
  mtguard log [flags]                list recorded calls (--record, --route, --outcome, --since, --limit, --json)
  mtguard show ID [--json|--curl]    show one call in full, or as a curl command
  mtguard replay ID | [filters]      resend failed calls (--route, --outcome, --finding, --since, --dry-run, --force)
  mtguard export --har [filters]     write the matching calls as HAR 1.2
  mtguard forget --record KEY        erase a record from every call (right to erasure) and list where it was sent
  mtguard schemas import|verify|pin|list   pin vendor contracts (JSON Schemas) from OpenAPI files
  mtguard presets [show NAME]        list the vendor presets, or print one as YAML
  mtguard ca init [--config FILE]    create the forward proxy's CA and say how to trust it
  mtguard health [--check] [--json]  one line per route: state, last hour, last delivery, alerts, owner
  mtguard alerts [--all] [--json]    alerts firing (--all: history); mtguard alerts ack ID [--silence 2h]
  mtguard postmortem ALERT_ID        the incident's account from the record (--route R --since T; --format md|html|json)
  mtguard drill start --route R --fault F  rehearse a vendor failure (--for 10m, --expect "alert within 5m"); drill status|stop ID
  mtguard limits [--json]            each vendor budget: use per window, in flight, queue, pause, throttled
  mtguard deliveries [--route R] [--state S] [--json]   the delivery queue; deliveries retry ID|--route R, deliveries drop ID --reason T
  mtguard audit [--since 24h]        every state-changing admin action: who, role, what, when, from where, outcome
  mtguard migrate [--config FILE]    bring the PostgreSQL log's schema to this version (store.backend: postgres)
  mtguard store copy --from bbolt:F  copy a bbolt log into the PostgreSQL one (--config FILE names store.dsn_env)
  mtguard journey KEY [--json]       a record's journeys: each step reached or not, when, outcome, where it stopped
  mtguard journeys [--stuck]         records in transit (--stuck: lost in transit; --journey J)
  mtguard drift --route R [--json]   a route's learned payload shape and the changes flagged (schema.drift)
  mtguard schemas learn --route R --out DIR   write a route's learned shape as a JSON Schema to pin
  mtguard reload [--drop-queued]     make a running serve reload its config file (or kill -HUP its pid)
  mtguard backup --out FILE          copy the running store, consistently, while calls flow
  mtguard restore --from FILE --store PATH   restore a backup (serve stopped); mtguard store verify PATH checks a file
  mtguard version                    print the version

The log and show commands talk to a running mtguard through its admin API: --admin URL, or
MTGUARD_ADMIN (default http://127.0.0.1:9090); the token comes from MTGUARD_ADMIN_TOKEN, and
MTGUARD_ADMIN_CA names the CA file that signed an https admin API's certificate.
`

// run is the whole program; main only supplies the process's streams, environment and signals.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return cli.ErrUsage
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr, getenv)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr, getenv)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr, getenv)
	case "log":
		return cli.Log(ctx, rest, stdout, stderr, getenv)
	case "show":
		return cli.Show(ctx, rest, stdout, stderr, getenv)
	case "schemas":
		if len(rest) > 0 && rest[0] == "learn" {
			return cli.SchemasLearn(ctx, rest[1:], stdout, stderr, getenv)
		}
		return cli.Schemas(rest, stdout, stderr)
	case "presets":
		return cli.Presets(rest, stdout, stderr)
	case "replay":
		return cli.Replay(ctx, rest, stdout, stderr, getenv)
	case "forget":
		return cli.Forget(ctx, rest, stdout, stderr, getenv)
	case "export":
		return cli.Export(ctx, version, rest, stdout, stderr, getenv)
	case "ca":
		return cli.CA(rest, stdout, stderr)
	case "health":
		return cli.Health(ctx, rest, stdout, stderr, getenv)
	case "alerts":
		return cli.Alerts(ctx, rest, stdout, stderr, getenv)
	case "limits":
		return cli.Limits(ctx, rest, stdout, stderr, getenv)
	case "audit":
		return cli.Audit(ctx, rest, stdout, stderr, getenv)
	case "postmortem":
		return cli.Postmortem(ctx, rest, stdout, stderr, getenv)
	case "drill":
		return cli.Drill(ctx, rest, stdout, stderr, getenv)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr, getenv)
	case "store":
		return cmdStore(ctx, rest, stdout, stderr, getenv)
	case "drift":
		return cli.Drift(ctx, rest, stdout, stderr, getenv)
	case "journey":
		return cli.Journey(ctx, rest, stdout, stderr, getenv)
	case "journeys":
		return cli.Journeys(ctx, rest, stdout, stderr, getenv)
	case "reload":
		return cli.Reload(ctx, rest, stdout, stderr, getenv)
	case "backup":
		return cli.Backup(ctx, rest, stdout, stderr, getenv)
	case "restore":
		return cli.Restore(rest, stdout, stderr)
	case "deliveries":
		return cli.Deliveries(ctx, rest, stdout, stderr, getenv)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "mtguard", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q: %w", cmd, cli.ErrUsage)
}

// exitCode is logcmd's, which mtguard-log exits with too.
func exitCode(err error) int { return logcmd.ExitCode(err) }
