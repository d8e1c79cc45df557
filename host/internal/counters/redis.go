package counters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a Redis-backed store.
type RedisOptions struct {
	// Address is host:port.
	Address  string
	Username string
	Password string
	Database int
	// Timeout bounds each command (dial, read and write); default 2s,
	// Kong's redis.timeout default.
	Timeout time.Duration
	// Prefix starts every key; default "weir:ratelimit:".
	Prefix string
}

// Redis keeps counters in Redis: INCRBY then EXPIREAT the window's end
// (plus a second of slack for clock skew) in one MULTI/EXEC transaction,
// so a counter never outlives its window and concurrent processes add to
// the same value.
type Redis struct {
	c      *redis.Client
	prefix string
}

// NewRedis returns a store talking to the server in o. It does not
// connect until the first command, so a server that is down at load time
// is handled like an outage later (per the plugin's fault_tolerant).
func NewRedis(o RedisOptions) *Redis {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Prefix == "" {
		o.Prefix = "weir:ratelimit:"
	}
	c := redis.NewClient(&redis.Options{
		Addr:         o.Address,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.Database,
		DialTimeout:  o.Timeout,
		ReadTimeout:  o.Timeout,
		WriteTimeout: o.Timeout,
		MaxRetries:   -1, // an outage must surface at once, not after retries
		// Identify as a plain RESP2 client: no CLIENT SETINFO handshake
		// that older servers answer with an error.
		Protocol:        2,
		DisableIdentity: true,
	})
	return &Redis{c: c, prefix: o.Prefix}
}

// Incr implements Store.
func (r *Redis) Incr(ctx context.Context, key string, window, delta int64, now time.Time) (int64, error) {
	start := WindowStart(now, window)
	k := r.prefix + windowKey(key, window, start)
	var incr *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.IncrBy(ctx, k, delta)
		p.ExpireAt(ctx, k, time.Unix(start+window+1, 0))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redis counter: %w", err)
	}
	return incr.Val(), nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string, window int64, now time.Time) (int64, error) {
	k := r.prefix + windowKey(key, window, WindowStart(now, window))
	n, err := r.c.Get(ctx, k).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis counter: %w", err)
	}
	return n, nil
}

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }
