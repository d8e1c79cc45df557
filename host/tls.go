package host

import (
	"net/http"

	"github.com/weirproxy/weir/host/internal/tlsacme"
)

// challengeHandler answers ACME HTTP-01 validations on the proxy
// listeners before any route is matched (a route for "/" must not
// swallow them), and passes everything else to the proxy.
type challengeHandler struct {
	tm   *tlsacme.Manager
	next http.Handler
}

func (h *challengeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.tm.HandleHTTPChallenge(w, r) {
		return
	}
	h.next.ServeHTTP(w, r)
}
