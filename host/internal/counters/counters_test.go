package counters

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestWindowStart(t *testing.T) {
	tests := []struct {
		name   string
		now    int64
		window int64
		want   int64
	}{
		{name: "second", now: 1000, window: 1, want: 1000},
		{name: "minute aligned", now: 120, window: 60, want: 120},
		{name: "minute inside", now: 179, window: 60, want: 120},
		{name: "day", now: 86400*3 + 5, window: 86400, want: 86400 * 3},
		{name: "zero window treated as 1", now: 7, window: 0, want: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := WindowStart(time.Unix(tc.now, 0), tc.window); got != tc.want {
				t.Fatalf("WindowStart(%d, %d) = %d, want %d", tc.now, tc.window, got, tc.want)
			}
		})
	}
}

// testStore exercises any Store: windows are independent, keys are
// independent, negative deltas subtract, and concurrent increments are
// not lost.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	// 20 s into the current minute: real time, as Redis expires keys at
	// the window's end.
	t0 := time.Unix(WindowStart(time.Now(), 60)+20, 0)
	for i := int64(1); i <= 3; i++ {
		n, err := s.Incr(ctx, "k", 60, 1, t0)
		if err != nil || n != i {
			t.Fatalf("Incr #%d = %d, %v", i, n, err)
		}
	}
	if n, _ := s.Incr(ctx, "k", 60, -1, t0.Add(30*time.Second)); n != 2 {
		t.Fatalf("same window, -1: %d, want 2", n)
	}
	if n, _ := s.Get(ctx, "k", 60, t0); n != 2 {
		t.Fatalf("Get = %d, want 2", n)
	}
	if n, _ := s.Incr(ctx, "k", 60, 1, t0.Add(40*time.Second)); n != 1 {
		t.Fatalf("next window: %d, want 1 (fresh)", n)
	}
	if n, _ := s.Get(ctx, "other", 60, t0); n != 0 {
		t.Fatalf("unknown key: %d", n)
	}
	if n, _ := s.Incr(ctx, "k", 3600, 5, t0); n != 5 {
		t.Fatalf("another window length is another counter: %d", n)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				if _, err := s.Incr(ctx, "hammer", 60, 1, t0); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := s.Get(ctx, "hammer", 60, t0); n != 200 {
		t.Fatalf("concurrent increments: %d, want 200", n)
	}
}

func TestLocal(t *testing.T) {
	testStore(t, NewLocal())
}

func TestLocalSweepsEndedWindows(t *testing.T) {
	l := NewLocal()
	ctx := context.Background()
	t0 := time.Unix(1_000_000, 0)
	for i := 0; i < 10; i++ {
		l.Incr(ctx, "k"+strconv.Itoa(i), 1, 1, t0)
	}
	if l.Len() != 10 {
		t.Fatalf("Len %d", l.Len())
	}
	l.Incr(ctx, "x", 1, 1, t0.Add(5*time.Second))
	if l.Len() != 1 {
		t.Fatalf("after the windows ended Len = %d, want 1", l.Len())
	}
}

func TestRedis(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: run go tool task deps:redis")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := NewRedis(RedisOptions{Address: "127.0.0.1:" + strconv.Itoa(port), Timeout: time.Second})
	t.Cleanup(func() { r.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := r.Get(context.Background(), "ping", 1, time.Now()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	testStore(t, r)

	cmd.Process.Kill()
	cmd.Wait()
	if _, err := r.Incr(context.Background(), "k", 60, 1, time.Now()); err == nil {
		t.Fatal("Incr with the server down returned no error")
	}
}
