package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/ingress"
)

const ingressUsage = `weir ingress: Kubernetes ingress controller and proxy in one process.

It watches Ingresses of its IngressClass (controller weir.dev/ingress-controller),
Services, EndpointSlices, Secrets and Kong's KongPlugin, KongClusterPlugin,
KongConsumer and KongUpstreamPolicy, and serves them. In a pod it uses the
in-cluster config; elsewhere --kubeconfig (or $KUBECONFIG).

Flags:
`

func cmdIngress(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("ingress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, ingressUsage); fs.PrintDefaults() }
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (default: in-cluster config)")
	class := fs.String("ingress-class", envOr("WEIR_INGRESS_CLASS", "weir"), "IngressClass name to serve")
	watchNS := fs.String("watch-namespace", os.Getenv("WEIR_WATCH_NAMESPACE"), "watch only this namespace (default: all)")
	publishSvc := fs.String("publish-service", os.Getenv("WEIR_PUBLISH_SERVICE"), "namespace/name of the Service whose address goes into Ingress status")
	publishAddr := fs.String("publish-status-address", os.Getenv("WEIR_PUBLISH_STATUS_ADDRESS"), "comma-separated IPs or host names for Ingress status (overrides --publish-service)")
	leaseNS := fs.String("election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the status-writer Lease (default $POD_NAMESPACE or default)")
	proxyListen := fs.String("proxy-listen", os.Getenv("WEIR_PROXY_LISTEN"), "proxy listen address (default 0.0.0.0:8000)")
	httpsListen := fs.String("https-listen", os.Getenv("WEIR_HTTPS_LISTEN"), "HTTPS listen address, \"off\" to disable (default 0.0.0.0:8443)")
	adminListen := fs.String("admin-listen", envOr("WEIR_ADMIN_LISTEN", "127.0.0.1:8001"), "admin API listen address")
	statusListen := fs.String("status-listen", os.Getenv("WEIR_STATUS_LISTEN"), "status/probe listen address (default 0.0.0.0:8100)")
	debounce := fs.Duration("sync-debounce", 10*time.Millisecond, "least time between two syncs (changes arriving meanwhile are coalesced)")
	logLevel := fs.String("log-level", envOr("WEIR_LOG_LEVEL", "info"), "debug, info, warn or error")
	logFormat := fs.String("log-format", envOr("WEIR_LOG_FORMAT", "text"), "text or json")
	var pullSecrets, insecureRegs []string
	fs.Func("plugin-pull-secret", "namespace/name of a kubernetes.io/dockerconfigjson Secret with credentials for oci:// plugin modules (repeatable)", func(v string) error {
		if ns, name, ok := strings.Cut(v, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("want namespace/name, got %q", v)
		}
		pullSecrets = append(pullSecrets, v)
		return nil
	})
	fs.Func("plugin-insecure-registry", "registry host[:port] reached over plain HTTP for oci:// plugin modules (repeatable)", func(v string) error {
		insecureRegs = append(insecureRegs, v)
		return nil
	})
	moduleCache := fs.String("plugin-cache-dir", os.Getenv("WEIR_PLUGIN_CACHE_DIR"), "plugin module cache directory (default: the user cache directory's weir/modules)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "weir:", err)
		return 2
	}
	// client-go logs through klog (leader election, watch errors); send
	// it to the same logger as everything else. Process-wide, so here,
	// before anything runs.
	klog.SetSlogLogger(log)
	var kube *rest.Config
	if *kubeconfig != "" {
		kube, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		kube, err = rest.InClusterConfig()
		if err != nil {
			err = fmt.Errorf("%w (outside a cluster, pass --kubeconfig)", err)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "weir:", err)
		return 2
	}
	var addrs []string
	for _, a := range strings.Split(*publishAddr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := ingress.StartProxy(ctx, kube, ingress.ProxyOptions{
		Controller: ingress.ControllerOptions{
			IngressClass: *class, WatchNamespace: *watchNS, PublishService: *publishSvc,
			PublishStatusAddress: addrs, LeaseNamespace: *leaseNS, Debounce: *debounce,
			PullSecrets: pullSecrets,
			Modules:     config.Modules{CacheDir: *moduleCache, InsecureRegistries: insecureRegs},
		},
		ProxyListen: *proxyListen, AdminListen: *adminListen, StatusListen: *statusListen, HTTPSListen: *httpsListen,
		Version: version, Logger: log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "weir:", err)
		return 1
	}
	log.Info("serving", "proxy", p.Server.ProxyAddr().String(), "class", *class)
	select {
	case <-ctx.Done():
	case <-p.Done():
		log.Error("controller stopped", "err", p.Err())
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		log.Warn("shutdown deadline passed; open connections were closed", "err", err)
		return 1
	}
	return 0
}
