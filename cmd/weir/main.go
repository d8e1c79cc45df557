// Command weir is Weir's single binary: the proxy (`weir run`), the config
// checker (`weir validate`), and later the ingress controller and the
// plugin tools. It only parses flags and wires packages together; the
// logic lives in host/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/weirproxy/weir/host"
	"github.com/weirproxy/weir/host/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Weir: a WebAssembly-extensible edge proxy.

Usage:
  weir run [--config FILE] [--proxy-listen ADDR] [--admin-listen ADDR] [--status-listen ADDR]
           [--https-listen ADDR]
  weir validate FILE
  weir plugin push|pull|inspect ...   (weir plugin help)
  weir conformance PLUGIN.wasm [--config FILE] [--scenarios FILE...] [--format text|json|junit]
  weir ingress [--kubeconfig FILE] [--ingress-class NAME] [--publish-service NS/NAME] ...
  weir version

Without --config, weir run serves an embedded default config (an echo route
on every path). Listen addresses: flag > WEIR_PROXY_LISTEN / WEIR_ADMIN_LISTEN /
WEIR_STATUS_LISTEN > the config file's weir: section > 0.0.0.0:8000,
127.0.0.1:8001, 0.0.0.0:8100. "off" disables the admin or status listener.
The HTTPS listener: --https-listen > WEIR_HTTPS_LISTEN > weir.https_listen >
0.0.0.0:8443 ("off" disables it).
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "plugin":
		return cmdPlugin(args[1:], stdout, stderr)
	case "conformance":
		return cmdConformance(args[1:], stdout, stderr)
	case "ingress":
		return cmdIngress(args[1:], stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "weir", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "weir: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv("WEIR_CONFIG"), "declarative config file (YAML or JSON); empty: embedded default")
	proxyListen := fs.String("proxy-listen", os.Getenv("WEIR_PROXY_LISTEN"), "proxy listen address (default 0.0.0.0:8000)")
	adminListen := fs.String("admin-listen", os.Getenv("WEIR_ADMIN_LISTEN"), "admin API listen address (default 127.0.0.1:8001)")
	statusListen := fs.String("status-listen", os.Getenv("WEIR_STATUS_LISTEN"), "status/probe listen address (default 0.0.0.0:8100)")
	httpsListen := fs.String("https-listen", os.Getenv("WEIR_HTTPS_LISTEN"), "HTTPS proxy listen address (default 0.0.0.0:8443; off disables it)")
	watch := fs.Duration("watch-interval", 2*time.Second, "poll the config file for changes this often; 0 disables")
	logLevel := fs.String("log-level", envOr("WEIR_LOG_LEVEL", "info"), "debug, info, warn or error")
	logFormat := fs.String("log-format", envOr("WEIR_LOG_FORMAT", "text"), "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "weir:", err)
		return 2
	}
	srv, err := host.New(host.Options{
		ConfigPath:   *cfgPath,
		ProxyListen:  *proxyListen,
		AdminListen:  *adminListen,
		StatusListen: *statusListen,
		HTTPSListen:  *httpsListen,
		Logger:       log,
		Version:      version,
	})
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	if err := srv.Start(); err != nil {
		fmt.Fprintln(stderr, "weir:", err)
		return 1
	}
	if *watch > 0 {
		srv.WatchFile(*watch)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			log.Info("SIGHUP: reloading configuration")
			srv.Reload()
			continue
		}
		log.Info("shutting down: draining in-flight requests", "signal", sig.String())
		timeout := time.Duration(srv.Config().Weir.ShutdownTimeout) * time.Millisecond
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		go func() {
			<-sigs // a second signal: stop now
			cancel()
		}()
		err := srv.Shutdown(ctx)
		cancel()
		if err != nil {
			log.Warn("shutdown deadline passed; open connections were closed", "err", err)
			return 1
		}
		log.Info("stopped")
		return 0
	}
	return 0
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: weir validate FILE")
		return 2
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "weir:", err)
		return 1
	}
	cfg, err := host.Prepare(raw)
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration\n", args[0])
		printConfigError(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid (%d services, %d routes, %d upstreams, %d targets, %d plugins, %d consumers)\n",
		args[0], len(cfg.Services), len(cfg.Routes), len(cfg.Upstreams), len(cfg.Targets), len(cfg.Plugins), len(cfg.Consumers))
	return 0
}

// printConfigError prints one line per validation error.
func printConfigError(w io.Writer, err error) {
	var ve config.ValidationErrors
	if errors.As(err, &ve) {
		for _, fe := range ve {
			fmt.Fprintf(w, "  %s\n", fe.Error())
		}
		return
	}
	fmt.Fprintf(w, "  %v\n", err)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
