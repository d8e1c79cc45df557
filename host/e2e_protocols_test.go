package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

func TestE2EWebSocket(t *testing.T) {
	closed := make(chan struct{})
	ws := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		defer close(closed)
		// Server speaks first, then echoes every message with a prefix.
		if err := websocket.Message.Send(c, "hello from upstream"); err != nil {
			return
		}
		for {
			var msg string
			if err := websocket.Message.Receive(c, &msg); err != nil {
				return // the client (through Weir) closed
			}
			if err := websocket.Message.Send(c, "echo: "+msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(ws.Close)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: ws
    url: %s
    routes: [{name: ws, paths: [/ws], strip_path: false}]
`, ws.URL))

	cfg, err := websocket.NewConfig("ws://"+srv.ProxyAddr().String()+"/ws", "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.DialContext(context.Background())
	if err != nil {
		t.Fatalf("websocket dial through Weir: %v", err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var first string
	if err := websocket.Message.Receive(conn, &first); err != nil || first != "hello from upstream" {
		t.Fatalf("first server message %q, %v", first, err)
	}
	for i := range 20 {
		msg := "msg-" + strconv.Itoa(i) + "-" + string(bytes.Repeat([]byte{'z'}, i*500))
		if err := websocket.Message.Send(conn, msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		var got string
		if err := websocket.Message.Receive(conn, &got); err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		if got != "echo: "+msg {
			t.Fatalf("message %d: got %q", i, got[:min(len(got), 40)])
		}
	}
	// Binary frames too.
	bin := []byte{0, 1, 2, 255, 254}
	if err := websocket.Message.Send(conn, bin); err != nil {
		t.Fatal(err)
	}
	var echoed string
	if err := websocket.Message.Receive(conn, &echoed); err != nil || echoed != "echo: "+string(bin) {
		t.Fatalf("binary echo %q, %v", echoed, err)
	}

	conn.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream websocket handler did not see the client close within 5s: tunnel left open")
	}
}

// grpcEcho implements the parts of grpc.testing.TestService the tests use.
type grpcEcho struct {
	testpb.UnimplementedTestServiceServer
}

func (grpcEcho) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if s := req.GetResponseStatus(); s != nil && s.Code != 0 {
		return nil, status.Error(codes.Code(s.Code), s.Message)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	grpc.SetHeader(ctx, metadata.Pairs("x-seen-via", firstOf(md.Get("via"))))
	grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t-value"))
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (grpcEcho) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if string(req.GetPayload().GetBody()) == "fail" {
			// End the call while the client's side is still open.
			return status.Error(codes.Aborted, "stopped by the server")
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func startGRPCBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	testpb.RegisterTestServiceServer(gs, grpcEcho{})
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

func TestE2EGRPC(t *testing.T) {
	backendAddr := startGRPCBackend(t)
	host, port, _ := net.SplitHostPort(backendAddr)
	// Kong rejects a route mixing grpc with http (mutually exclusive
	// protocol subsets), and so does Weir: the gRPC route is grpc-only.
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: grpc
    protocol: grpc
    host: %s
    port: %s
    routes: [{name: grpc, paths: [/grpc.testing.TestService/], protocols: [grpc]}]
  - name: grpc-dead
    protocol: grpc
    url: grpc://%s
    connect_timeout: 1000
    routes: [{name: grpc-dead, paths: [/grpc.testing.UnimplementedService/], protocols: [grpc]}]
`, host, port, deadAddr(t)))

	cc, err := grpc.NewClient(srv.ProxyAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	client := testpb.NewTestServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("unary", func(t *testing.T) {
		body := bytes.Repeat([]byte("grpc"), 50000) // 200 KB, several DATA frames
		var hdr, trl metadata.MD
		resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: body}},
			grpc.Header(&hdr), grpc.Trailer(&trl))
		if err != nil {
			t.Fatalf("UnaryCall through Weir: %v", err)
		}
		if !bytes.Equal(resp.GetPayload().GetBody(), body) {
			t.Errorf("payload of %d bytes came back as %d bytes", len(body), len(resp.GetPayload().GetBody()))
		}
		if got := firstOf(trl.Get("x-trailer")); got != "t-value" {
			t.Errorf("trailer x-trailer %q, want t-value (trailers: %v)", got, trl)
		}
		if got := firstOf(hdr.Get("x-seen-via")); got == "" {
			t.Errorf("upstream saw no Via header")
		}
		if id := firstOf(hdr.Get("x-request-id")); !isHexID(id) {
			t.Errorf("response x-request-id %q, want 32 hex digits", id)
		}
	})
	t.Run("status code passes through", func(t *testing.T) {
		_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{
			ResponseStatus: &testpb.EchoStatus{Code: int32(codes.PermissionDenied), Message: "no entry"},
		})
		st, _ := status.FromError(err)
		if st.Code() != codes.PermissionDenied || st.Message() != "no entry" {
			t.Errorf("status %v %q, want PermissionDenied %q", st.Code(), st.Message(), "no entry")
		}
	})
	t.Run("bidirectional streaming", func(t *testing.T) {
		stream, err := client.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Lock-step: each response must arrive before the next request is
		// sent, which proves neither direction is buffered.
		for i := range 25 {
			msg := []byte("ping-" + strconv.Itoa(i))
			if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: msg}}); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("recv %d: %v", i, err)
			}
			if !bytes.Equal(resp.GetPayload().GetBody(), msg) {
				t.Fatalf("recv %d: %q, want %q", i, resp.GetPayload().GetBody(), msg)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("after CloseSend: %v, want io.EOF (status OK)", err)
		}
	})
	t.Run("server ends a stream the client keeps open", func(t *testing.T) {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		stream, err := client.FullDuplexCall(sctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("one")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("fail")}}); err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		if st, _ := status.FromError(err); st.Code() != codes.Aborted || st.Message() != "stopped by the server" {
			t.Errorf("status %v %q, want Aborted from the server (not a deadline: the proxy must not wait for the client to finish sending)", st.Code(), st.Message())
		}
	})
	t.Run("dead backend is Unavailable", func(t *testing.T) {
		dead := testpb.NewUnimplementedServiceClient(cc)
		_, err := dead.UnimplementedCall(ctx, &testpb.Empty{})
		if st, _ := status.FromError(err); st.Code() != codes.Unavailable {
			t.Errorf("status %v (%v), want Unavailable", st.Code(), err)
		}
	})
	t.Run("no route is Unimplemented", func(t *testing.T) {
		other := testpb.NewReconnectServiceClient(cc)
		_, err := other.Start(ctx, &testpb.ReconnectParams{})
		if st, _ := status.FromError(err); st.Code() != codes.Unimplemented {
			t.Errorf("status %v (%v), want Unimplemented", st.Code(), err)
		}
	})
}

func TestE2EH2C(t *testing.T) {
	b := newBackend(t, "h1", nil)
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := range 5 {
		req, _ := http.NewRequest(http.MethodPost, proxyURL(srv)+"/h2c/"+strconv.Itoa(i)+"?x=1", bytes.NewReader([]byte("body-"+strconv.Itoa(i))))
		r := do(t, c, req)
		if r.Status != 200 || string(r.Body) != "h1" {
			t.Fatalf("status %d body %q", r.Status, r.Body)
		}
		up := b.Last(t)
		if up.Proto != "HTTP/1.1" {
			t.Errorf("upstream proto %q, want HTTP/1.1", up.Proto)
		}
		if up.RequestURI != "/h2c/"+strconv.Itoa(i)+"?x=1" || string(up.Body) != "body-"+strconv.Itoa(i) {
			t.Errorf("upstream got %s with body %q", up.RequestURI, up.Body)
		}
	}
	resp, err := c.Get(proxyURL(srv) + "/proto")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("client spoke HTTP/%d.%d to Weir, want HTTP/2", resp.ProtoMajor, resp.ProtoMinor)
	}
	if got := b.Conns.Load(); got > 2 {
		t.Errorf("%d upstream connections for 6 sequential requests, want ≤ 2", got)
	}
}

func TestE2EShutdownClosesWebSocket(t *testing.T) {
	ws := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		io.Copy(c, c)
	}))
	t.Cleanup(ws.Close)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: ws
    url: %s
    routes: [{name: ws, paths: [/ws], strip_path: false}]
`, ws.URL))
	conn, err := websocket.Dial("ws://"+srv.ProxyAddr().String()+"/ws", "", "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := websocket.Message.Send(conn, "before"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := websocket.Message.Receive(conn, &got); err != nil || got != "before" {
		t.Fatalf("echo %q %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Shutdown took %v with an open WebSocket", d)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := websocket.Message.Receive(conn, &got); err == nil {
		t.Errorf("the WebSocket still works after Shutdown (got %q)", got)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("the WebSocket was left open after Shutdown (read timed out)")
	}
}

func TestE2EGRPCRetryToLiveTarget(t *testing.T) {
	live := startGRPCBackend(t)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: grpc
    protocol: grpc
    host: grpc-up
    connect_timeout: 1000
    routes: [{name: grpc, paths: [/grpc.testing.TestService/], protocols: [grpc]}]
upstreams:
  - name: grpc-up
    targets: [{target: %s}, {target: %s}]
`, deadAddr(t), live))
	cc, err := grpc.NewClient(srv.ProxyAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	client := testpb.NewTestServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A refused connection sent nothing: the call goes to the live target.
	for i := range 10 {
		body := []byte("call-" + strconv.Itoa(i))
		resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: body}})
		if err != nil {
			t.Fatalf("call %d with one dead target: %v", i, err)
		}
		if !bytes.Equal(resp.GetPayload().GetBody(), body) {
			t.Fatalf("call %d: payload %q", i, resp.GetPayload().GetBody())
		}
	}
}
