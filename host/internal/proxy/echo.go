package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
)

// echo answers with a JSON description of the request, for services of
// protocol `weir` and host `echo`: the embedded default config uses it so
// a new user sees Weir answer without running any backend.
func (h *Handler) echo(w http.ResponseWriter, r *http.Request, x *exchange, rt *Route, fw *forwarded) {
	var size int64
	if r.Body != nil {
		size, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	headers := make(map[string]string, len(names))
	for _, k := range names {
		if k == "Authorization" || k == "Cookie" || k == "Proxy-Authorization" {
			headers[k] = "[redacted]"
			continue
		}
		v := r.Header[k]
		s := v[0]
		for _, more := range v[1:] {
			s += ", " + more
		}
		headers[k] = s
	}
	body := map[string]any{
		"message":    "Weir is running",
		"route":      rt.Name,
		"service":    rt.Service.Name,
		"method":     r.Method,
		"uri":        r.RequestURI,
		"path":       fw.path,
		"host":       r.Host,
		"protocol":   r.Proto,
		"client_ip":  fw.client,
		"request_id": x.id,
		"headers":    headers,
		"body_bytes": size,
	}
	b, _ := json.MarshalIndent(body, "", "  ")
	b = append(b, '\n')
	hdr := w.Header()
	h.commonHeaders(hdr, x, true)
	hdr["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
