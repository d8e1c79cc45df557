package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/weirproxy/weir/conformance"
)

const conformanceUsage = `usage: weir conformance PLUGIN.wasm [flags]

Runs the plugin conformance suite (conformance/README.md) against a
proxy-wasm module: module, lifecycle, http (your scenarios), robustness
and portability checks. Exit status: 0 when every required check passes,
1 when one fails, 2 for bad arguments or an unreadable scenario file.

Flags:
`

// stringList is a repeatable flag whose values may also be
// comma-separated.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

func cmdConformance(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, conformanceUsage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "plugin configuration file (JSON; .yaml/.yml is converted to JSON); default: the first scenario file's config")
	invalidPath := fs.String("invalid-config", "", "a configuration the plugin must refuse (module.rejects-invalid-config)")
	var scenarios stringList
	fs.Var(&scenarios, "scenarios", "scenario file (YAML); repeat the flag or separate files with commas")
	format := fs.String("format", "text", "output format: text, json or junit")
	streams := fs.Int("streams", 0, "streams per stream-count check (default 32)")
	budget := fs.Duration("latency-budget", 0, "p99 budget per callback (default 10ms)")
	seed := fs.Int64("seed", 0, "seed of the random inputs (default 1)")
	flags, positional := splitArgs(args)
	if err := fs.Parse(flags); err != nil {
		return 2
	}
	positional = append(positional, fs.Args()...)
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "weir conformance: give exactly one plugin .wasm file")
		fs.Usage()
		return 2
	}
	switch *format {
	case "text", "json", "junit":
	default:
		fmt.Fprintf(stderr, "weir conformance: --format: %q is not text, json or junit\n", *format)
		return 2
	}
	module, err := os.ReadFile(positional[0])
	if err != nil {
		fmt.Fprintln(stderr, "weir conformance:", err)
		return 2
	}
	opts := conformance.Options{Name: positional[0], Streams: *streams, LatencyBudget: *budget, Seed: *seed}
	if opts.Streams < 0 || opts.LatencyBudget < 0 {
		fmt.Fprintln(stderr, "weir conformance: --streams and --latency-budget must not be negative")
		return 2
	}
	if *cfgPath != "" {
		if opts.Config, err = readPluginConfig(*cfgPath, "--config"); err != nil {
			fmt.Fprintln(stderr, "weir conformance:", err)
			return 2
		}
	}
	if *invalidPath != "" {
		if opts.InvalidConfig, err = readPluginConfig(*invalidPath, "--invalid-config"); err != nil {
			fmt.Fprintln(stderr, "weir conformance:", err)
			return 2
		}
	}
	for _, p := range scenarios {
		f, err := conformance.LoadScenarios(p)
		if err != nil {
			fmt.Fprintln(stderr, "weir conformance:", err)
			return 2
		}
		opts.Scenarios = append(opts.Scenarios, f)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := conformance.Check(ctx, module, opts)
	if err != nil {
		fmt.Fprintln(stderr, "weir conformance:", err)
		return 2
	}
	switch *format {
	case "json":
		err = rep.WriteJSON(stdout)
	case "junit":
		err = rep.WriteJUnit(stdout)
	default:
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "weir conformance:", err)
		return 2
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// splitArgs separates flags (with their values) from positional
// arguments, so the plugin may come before or after the flags. Every flag
// of the command takes a value ("--f v" or "--f=v"); "--" ends the flags.
func splitArgs(args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if !strings.Contains(a, "=") && a != "-h" && a != "-help" && a != "--help" && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	return flags, positional
}

// readPluginConfig reads a plugin configuration file: JSON (or anything)
// verbatim, YAML converted to JSON.
func readPluginConfig(path, flagName string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		j, err := yaml.YAMLToJSON(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flagName, path, err)
		}
		return j, nil
	}
	return b, nil
}
