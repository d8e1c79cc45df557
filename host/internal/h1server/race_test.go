package h1server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentClients runs 32 keep-alive clients of 200 requests each,
// every request with its own path, header and body (length-framed or
// chunked, answered length-framed or chunked), and checks that each
// response is its own request's. Run it with -race.
func TestConcurrentClients(t *testing.T) {
	clients, requests := 32, 200
	if testing.Short() {
		clients, requests = 8, 50
	}
	var served atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		out := r.Method + " " + r.URL.Path + " " + r.Header.Get("X-Id") + " " + string(body)
		w.Header().Set("X-Echo-Id", r.Header.Get("X-Id"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		}
		io.WriteString(w, out)
	})
	ts := startServer(t, &Server{Handler: h})
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for ci := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runClient(ts.addr, ci, requests)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := served.Load(); n != int64(clients*requests) {
		t.Errorf("handler ran %d times, want %d", n, clients*requests)
	}
}

func runClient(addr string, ci, requests int) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(nc)
	bw := bufio.NewWriter(nc)
	for ri := range requests {
		id := fmt.Sprintf("c%d-r%d", ci, ri)
		path := "/client/" + strconv.Itoa(ci) + "/req/" + strconv.Itoa(ri)
		query := ""
		if ri%3 == 0 {
			query = "?chunked=1"
		}
		body := strings.Repeat(id+";", 1+(ci*7+ri)%50)
		fmt.Fprintf(bw, "POST %s%s HTTP/1.1\r\nHost: example.com\r\nX-Id: %s\r\n", path, query, id)
		if ri%2 == 0 {
			fmt.Fprintf(bw, "Content-Length: %d\r\n\r\n%s", len(body), body)
		} else {
			fmt.Fprintf(bw, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("%s: write: %w", id, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("%s: read: %w", id, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "POST " + path + " " + id + " " + body
		if err != nil || resp.StatusCode != 200 || string(got) != want || resp.Header.Get("X-Echo-Id") != id {
			return fmt.Errorf("%s: status %d id %q body %.80q err %v, want body %.80q",
				id, resp.StatusCode, resp.Header.Get("X-Echo-Id"), got, err, want)
		}
	}
	return nil
}
