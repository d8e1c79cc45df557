package host_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// send sends method url with the given headers (name, value pairs) and
// body, and returns the whole response.
func send(t testing.TB, c *http.Client, method, url string, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	return do(t, c, req)
}

// expectPlain checks status and, for a plugin-generated Kong error, the
// message (JSON with request_id).
func expectKong(t testing.TB, what string, r response, status int, msg string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, status, r.Body)
	}
	if msg != "" {
		decodeKongError(t, r, status, msg)
	}
}
