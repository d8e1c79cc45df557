package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
	"github.com/weirproxy/weir/host"
)

const pluginUsage = `Usage:
  weir plugin push [--format FORMAT] [--name NAME] FILE.wasm oci://REGISTRY/REPO:TAG
  weir plugin pull [-o FILE] REF
  weir plugin inspect [--json] REF

FORMAT: cncf (the CNCF wasm artifact, default), compat (Istio's compat OCI
image: plugin.wasm in a tar.gz layer), compat-docker (the same with a Docker
manifest), solo (solo.io's two-layer variant). REF is oci://..., an https://
URL with #sha256=..., or file:///path. Registry flags for every command:
  --insecure HOST[,HOST]   registries reached over plain HTTP ("*" for all)
  --docker-config FILE     credentials (default $DOCKER_CONFIG or ~/.docker/config.json)
  --ca-file FILE           PEM roots trusted instead of the system's
  --timeout DURATION       bound for the whole command (default 60s)
`

// pluginFlags are the registry flags every plugin command takes.
type pluginFlags struct {
	insecure, dockerConfig, caFile string
	timeout                        time.Duration
}

func (p *pluginFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.insecure, "insecure", os.Getenv("WEIR_INSECURE_REGISTRIES"), "registries reached over plain HTTP, comma-separated")
	fs.StringVar(&p.dockerConfig, "docker-config", "", "docker config.json with registry credentials")
	fs.StringVar(&p.caFile, "ca-file", "", "PEM bundle of trusted roots")
	fs.DurationVar(&p.timeout, "timeout", 60*time.Second, "overall timeout")
}

func (p *pluginFlags) options() host.ModuleToolOptions {
	var insecure []string
	for _, s := range strings.Split(p.insecure, ",") {
		if s = strings.TrimSpace(s); s != "" {
			insecure = append(insecure, s)
		}
	}
	return host.ModuleToolOptions{Insecure: insecure, DockerConfig: p.dockerConfig, CAFile: p.caFile, Timeout: p.timeout}
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func cmdPlugin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	switch args[0] {
	case "push":
		return cmdPluginPush(args[1:], stdout, stderr)
	case "pull":
		return cmdPluginPull(args[1:], stdout, stderr)
	case "inspect":
		return cmdPluginInspect(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, pluginUsage)
		return 0
	}
	fmt.Fprintf(stderr, "weir plugin: unknown command %q\n\n%s", args[0], pluginUsage)
	return 2
}

func cmdPluginPush(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pf pluginFlags
	pf.register(fs)
	format := fs.String("format", "cncf", "image layout: "+strings.Join(host.ModuleFormats(), ", "))
	name := fs.String("name", "", "plugin name annotation (default: the file name without .wasm)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 2 {
		fmt.Fprint(stderr, "weir plugin push: want FILE.wasm and oci://REGISTRY/REPO:TAG\n\n"+pluginUsage)
		return 2
	}
	if !slices.Contains(host.ModuleFormats(), *format) {
		fmt.Fprintf(stderr, "weir plugin push: --format %q is not one of %s\n", *format, strings.Join(host.ModuleFormats(), ", "))
		return 2
	}
	wasm, err := os.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "weir plugin push:", err)
		return 1
	}
	if *name == "" {
		*name = strings.TrimSuffix(path.Base(pos[0]), ".wasm")
	}
	digest, err := host.PushModule(context.Background(), pos[1], wasm, *format, *name, pf.options())
	if err != nil {
		fmt.Fprintln(stderr, "weir plugin push:", err)
		return 1
	}
	fmt.Fprintf(stdout, "pushed %s (%s, %d bytes)\ndigest: %s\n", pos[1], *format, len(wasm), digest)
	return 0
}

func cmdPluginPull(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin pull", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pf pluginFlags
	pf.register(fs)
	out := fs.String("o", "", "output file (\"-\" for stdout; default: the repository's last element + .wasm)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, "weir plugin pull: want one REF\n\n"+pluginUsage)
		return 2
	}
	m, err := host.PullModule(context.Background(), pos[0], pf.options())
	if err != nil {
		fmt.Fprintln(stderr, "weir plugin pull:", err)
		return 1
	}
	if *out == "-" {
		stdout.Write(m.Wasm)
		return 0
	}
	if *out == "" {
		base := path.Base(strings.SplitN(strings.SplitN(strings.SplitN(m.Ref, "#", 2)[0], "@", 2)[0], "?", 2)[0])
		if i := strings.LastIndex(base, ":"); i > 0 {
			base = base[:i]
		}
		*out = strings.TrimSuffix(base, ".wasm") + ".wasm"
	}
	if err := os.WriteFile(*out, m.Wasm, 0o644); err != nil {
		fmt.Fprintln(stderr, "weir plugin pull:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\ndigest: %s\n", *out, len(m.Wasm), m.Digest)
	return 0
}

// inspection is what `weir plugin inspect --json` prints.
type inspection struct {
	*host.PulledModule
	ABIVersion string      `json:"abi_version"`
	ABIError   string      `json:"abi_error,omitempty"`
	Exports    []signature `json:"exports"`
	Imports    []signature `json:"imports"`
}

type signature struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Type string `json:"type,omitempty"`
}

func kindName(k byte) string {
	switch k {
	case wasmbin.KindFunc:
		return "func"
	case wasmbin.KindTable:
		return "table"
	case wasmbin.KindMemory:
		return "memory"
	case wasmbin.KindGlobal:
		return "global"
	}
	return "unknown"
}

func sigString(kind byte, params, results []abi.ValType) string {
	if kind != wasmbin.KindFunc {
		return ""
	}
	ps := make([]string, len(params))
	for i, p := range params {
		ps[i] = p.String()
	}
	rs := make([]string, len(results))
	for i, r := range results {
		rs[i] = r.String()
	}
	return "(" + strings.Join(ps, ", ") + ") -> (" + strings.Join(rs, ", ") + ")"
}

func cmdPluginInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pf pluginFlags
	pf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, "weir plugin inspect: want one REF\n\n"+pluginUsage)
		return 2
	}
	m, err := host.PullModule(context.Background(), pos[0], pf.options())
	if err != nil {
		fmt.Fprintln(stderr, "weir plugin inspect:", err)
		return 1
	}
	mod, err := wasmbin.Parse(m.Wasm)
	if err != nil {
		fmt.Fprintln(stderr, "weir plugin inspect: module:", err)
		return 1
	}
	in := inspection{PulledModule: m, Exports: []signature{}, Imports: []signature{}}
	names := make([]string, 0, len(mod.Exports))
	for _, e := range mod.Exports {
		names = append(names, e.Name)
		in.Exports = append(in.Exports, signature{Name: e.Name, Kind: kindName(e.Kind), Type: sigString(e.Kind, e.Params, e.Results)})
	}
	for _, im := range mod.Imports {
		in.Imports = append(in.Imports, signature{Name: im.Module + "." + im.Name, Kind: kindName(im.Kind), Type: sigString(im.Kind, im.Params, im.Results)})
	}
	if v, err := abi.DetectVersion(names); err == nil {
		in.ABIVersion = v.String()
	} else {
		in.ABIVersion, in.ABIError = "unknown", err.Error()
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(in)
		return 0
	}
	w := func(k, v string) {
		if v != "" {
			fmt.Fprintf(stdout, "%-17s %s\n", k+":", v)
		}
	}
	w("reference", m.Ref)
	w("format", m.Format)
	if m.ManifestDigest != "" {
		w("manifest", m.ManifestDigest+" ("+m.ManifestMediaType+")")
		w("config", m.ConfigMediaType)
		w("layer", fmt.Sprintf("%s (%s, %d bytes)", m.LayerDigest, m.LayerMediaType, m.LayerSize))
	}
	w("module", fmt.Sprintf("%s (%d bytes)", m.Digest, len(m.Wasm)))
	abiText := in.ABIVersion
	if in.ABIError != "" {
		abiText += " (" + in.ABIError + ")"
	}
	w("abi version", abiText)
	keys := make([]string, 0, len(m.Annotations))
	for k := range m.Annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w("annotation", k+"="+m.Annotations[k])
	}
	fmt.Fprintf(stdout, "exports (%d):\n", len(in.Exports))
	for _, e := range in.Exports {
		fmt.Fprintf(stdout, "  %-40s %s %s\n", e.Name, e.Kind, e.Type)
	}
	fmt.Fprintf(stdout, "imports (%d):\n", len(in.Imports))
	for _, im := range in.Imports {
		fmt.Fprintf(stdout, "  %-40s %s %s\n", im.Name, im.Kind, im.Type)
	}
	return 0
}
