package host

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/internal/proxy"
	"github.com/weirproxy/weir/host/internal/upstream"
	"github.com/weirproxy/weir/host/wasm"
)

// maxCalloutBody bounds a callout response body held for the plugin.
const maxCalloutBody = 4 << 20

// calloutDispatcher sends plugins' proxy_http_call requests. The
// "upstream" a plugin names (Envoy's cluster) is a Weir service name, or
// failing that an upstream name; it is resolved against the snapshot in
// service when the call is made, because plugins outlive reloads. The
// target comes from the service's balancer, with its timeouts and TLS.
type calloutDispatcher struct {
	snap   func() *proxy.Snapshot
	client *http.Client
	log    *slog.Logger
}

func newCalloutDispatcher(snap func() *proxy.Snapshot, log *slog.Logger) *calloutDispatcher {
	tr := &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 60 * time.Second, DisableCompression: true}
	return &calloutDispatcher{
		snap: snap,
		log:  log,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (d *calloutDispatcher) resolve(name string) *proxy.Service {
	s := d.snap()
	if s == nil {
		return nil
	}
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc
		}
	}
	if b := s.Balancers[name]; b != nil {
		return &proxy.Service{Name: name, Kind: proxy.KindHTTP, Balancer: b, HostHeader: name,
			ConnectTimeout: 60 * time.Second, ReadTimeout: 60 * time.Second}
	}
	return nil
}

// Dispatch implements wasm.CalloutDispatcher.
func (d *calloutDispatcher) Dispatch(req wasm.CalloutRequest, done func(wasm.CalloutResponse)) abi.Status {
	svc := d.resolve(req.Upstream)
	if svc == nil || svc.Kind == proxy.KindEcho {
		return abi.StatusBadArgument
	}
	var method, path, authority string
	hdr := http.Header{}
	for _, kv := range req.Headers {
		switch kv[0] {
		case ":method":
			method = kv[1]
		case ":path":
			path = kv[1]
		case ":authority":
			authority = kv[1]
		case ":scheme":
		default:
			if strings.HasPrefix(kv[0], ":") {
				return abi.StatusBadArgument
			}
			hdr.Add(kv[0], kv[1])
		}
	}
	if method == "" || path == "" || path[0] != '/' || authority == "" {
		return abi.StatusBadArgument // Envoy's rule: all three are required
	}
	scheme := "http"
	if svc.TLS != nil {
		scheme = "https"
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = svc.ReadTimeout
	}
	go func() {
		t, _, err := svc.Balancer.Pick(&upstream.Request{HTTP: &http.Request{Header: hdr}})
		if err != nil {
			done(wasm.CalloutResponse{Err: err})
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		hr, err := http.NewRequestWithContext(ctx, method, scheme+"://"+t.Addr+path, bytes.NewReader(req.Body))
		if err != nil {
			done(wasm.CalloutResponse{Err: err})
			return
		}
		hr.Header = hdr
		hr.Host = authority
		resp, err := d.client.Do(hr)
		if err != nil {
			t.ReportTCPFailure()
			d.log.Debug("plugin callout failed", "upstream", req.Upstream, "err", err)
			done(wasm.CalloutResponse{Err: err})
			return
		}
		defer resp.Body.Close()
		t.ReportStatus(resp.StatusCode)
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxCalloutBody))
		if err != nil {
			done(wasm.CalloutResponse{Err: err})
			return
		}
		out := wasm.CalloutResponse{Body: body}
		out.Headers = append(out.Headers, [2]string{":status", strconv.Itoa(resp.StatusCode)})
		for k, vv := range resp.Header {
			for _, v := range vv {
				out.Headers = append(out.Headers, [2]string{strings.ToLower(k), v})
			}
		}
		for k, vv := range resp.Trailer {
			for _, v := range vv {
				out.Trailers = append(out.Trailers, [2]string{strings.ToLower(k), v})
			}
		}
		done(out)
	}()
	return abi.StatusOK
}

func (d *calloutDispatcher) close() {
	d.client.CloseIdleConnections()
}
