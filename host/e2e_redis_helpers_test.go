package host_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server (Debian's) on 127.0.0.1.
type redisServer struct {
	Port int
	// Password, when set before Start, is required (requirepass).
	Password string
	cmd      *exec.Cmd
	bin      string
	dir      string
}

// redisBinary finds redis-server on PATH or in .testbin/; it fails the
// test (never skips) when missing.
func redisBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if p, err := filepath.Abs("../.testbin/redis-server"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("redis-server not found on PATH or in .testbin/: run go tool task deps:redis")
	return ""
}

// startRedis starts redis-server on a free 127.0.0.1 port, without
// persistence, and stops it when the test ends.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	return startRedisWithPassword(t, "")
}

// startRedisWithPassword is startRedis with requirepass.
func startRedisWithPassword(t testing.TB, password string) *redisServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	rs := &redisServer{Port: port, Password: password, bin: redisBinary(t), dir: t.TempDir()}
	rs.Start(t)
	t.Cleanup(rs.Stop)
	return rs
}

// Addr is host:port.
func (rs *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(rs.Port) }

// Start (re)starts the server on its port and waits (bounded) until it
// answers PING.
func (rs *redisServer) Start(t testing.TB) {
	t.Helper()
	args := []string{"--port", strconv.Itoa(rs.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", rs.dir, "--protected-mode", "no"}
	if rs.Password != "" {
		args = append(args, "--requirepass", rs.Password)
	}
	rs.cmd = exec.Command(rs.bin, args...)
	if err := rs.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: rs.Addr(), Password: rs.Password, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	eventually(t, 10*time.Second, "redis-server to answer PING", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err() == nil
	})
}

// Stop kills the server and waits for it to exit.
func (rs *redisServer) Stop() {
	if rs.cmd == nil || rs.cmd.Process == nil {
		return
	}
	rs.cmd.Process.Kill()
	rs.cmd.Wait()
	rs.cmd = nil
}

// Client returns a client for inspecting the server (database db, if
// given).
func (rs *redisServer) Client(t testing.TB, db ...int) *redis.Client {
	d := 0
	if len(db) > 0 {
		d = db[0]
	}
	c := redis.NewClient(&redis.Options{Addr: rs.Addr(), Password: rs.Password, DB: d, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}
