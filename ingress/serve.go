package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/client-go/rest"

	"github.com/weirproxy/weir/host"
)

// ProxyOptions configure StartProxy: the controller's options (Apply is
// filled in) and the proxy's listeners.
type ProxyOptions struct {
	Controller ControllerOptions
	// Listen addresses of the proxy, admin and status listeners (host
	// defaults when empty; "off" disables admin or status).
	ProxyListen, AdminListen, StatusListen string
	// HTTPSListen is the HTTPS listener (host default when empty; "off"
	// disables it).
	HTTPSListen string
	Version     string
	Logger      *slog.Logger
}

// Proxy is `weir ingress`: a controller and the proxy it configures, in
// one process.
type Proxy struct {
	Server     *host.Server
	Controller *Controller
	done       chan struct{} // closed when the controller's Run returns
	runErr     error
	cancel     context.CancelFunc
	dir        string

	shutdown    sync.Once
	shutdownErr error
}

// emptyConfig is what the proxy holds before the first translation: no
// routes (every request gets Kong's 404).
const emptyConfig = `{"_format_version": "3.0"}`

// StartProxy starts the controller, waits for the first configuration
// translated from the cluster to be applied, then opens the listeners, so
// the status port's readiness probe only passes once the cluster's routes
// are served. It returns when the proxy serves, or with an error. ctx
// bounds the start only; the controller runs until Shutdown.
func StartProxy(ctx context.Context, kube *rest.Config, opts ProxyOptions) (*Proxy, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dir, err := os.MkdirTemp("", "weir-ingress-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "initial.json")
	if err := os.WriteFile(path, []byte(emptyConfig), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srv, err := host.New(host.Options{
		ConfigPath: path, ProxyListen: opts.ProxyListen, HTTPSListen: opts.HTTPSListen, AdminListen: opts.AdminListen, StatusListen: opts.StatusListen,
		Logger: opts.Logger, Version: opts.Version, KubeConfig: kube,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	co := opts.Controller
	co.Kube = kube
	co.Apply = srv.Apply
	co.ApplyConfig = srv.ApplyConfig
	co.ApplyConfigDelta = srv.ApplyConfigDelta
	co.ModuleErrors = srv.PluginModuleErrors
	co.SetPullSecrets = srv.SetPullSecrets
	co.CheckPullSecret = host.CheckPullSecret
	if co.Logger == nil {
		co.Logger = opts.Logger
	}
	ctrl, err := NewController(co)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Proxy{Server: srv, Controller: ctrl, done: make(chan struct{}), cancel: cancel, dir: dir}
	go func() {
		p.runErr = ctrl.Run(cctx)
		close(p.done)
	}()
	select {
	case <-ctrl.Applied():
	case <-p.done:
		cancel()
		os.RemoveAll(dir)
		err := p.runErr
		if err == nil {
			err = errors.New("ingress: controller stopped before the first configuration was applied")
		}
		return nil, err
	case <-ctx.Done():
		cancel()
		os.RemoveAll(dir)
		return nil, ctx.Err()
	}
	if err := srv.Start(); err != nil {
		cancel()
		<-p.done
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ingress: %w", err)
	}
	return p, nil
}

// Done is closed when the controller stops (after Shutdown, or on its
// own); Err then says why.
func (p *Proxy) Done() <-chan struct{} { return p.done }

// Err is the controller's exit error, valid once Done is closed.
func (p *Proxy) Err() error {
	select {
	case <-p.done:
		return p.runErr
	default:
		return nil
	}
}

// Shutdown stops the controller and drains the proxy. Calling it again
// returns the first call's result.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.shutdown.Do(func() {
		p.cancel()
		select {
		case <-p.done:
		case <-ctx.Done():
		}
		p.shutdownErr = p.Server.Shutdown(ctx)
		os.RemoveAll(p.dir)
	})
	return p.shutdownErr
}
