package proxy

import (
	"context"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/internal/consumers"
	"github.com/weirproxy/weir/host/internal/counters"
)

// Extensions are the snapshot-wide services behind the weir.* foreign
// functions (abi.ForeignFunctions): the consumer and credential index
// and the rate-limiting counters. Routes share one Extensions.
type Extensions struct {
	Consumers *consumers.Index
	Counters  counters.Store
	// Now is the clock for counter windows; nil means time.Now.
	Now func() time.Time
}

// Kong's upstream headers naming the authenticated consumer.
const (
	HeaderConsumerID        = "X-Consumer-Id"
	HeaderConsumerCustomID  = "X-Consumer-Custom-Id"
	HeaderConsumerUsername  = "X-Consumer-Username"
	HeaderCredentialID      = "X-Credential-Identifier"
	HeaderAnonymousConsumer = "X-Anonymous-Consumer"
)

// consumerFor returns the instance of p that runs for the authenticated
// consumer (Kong precedence, computed when the snapshot was built).
func (p *Plugin) consumerFor(c *consumers.Consumer) *Plugin {
	if c == nil || p.ByConsumer == nil {
		return p
	}
	if q := p.ByConsumer[c.ID]; q != nil {
		return q
	}
	return p
}

// CallForeignFunction implements wasm.ForeignFunctionHost: the weir.*
// extensions. Errors never carry the arguments (they may hold secrets).
// The result is valid until the next call (the host copies it into the
// guest at once).
func (c *chainHost) CallForeignFunction(name string, args []byte) ([]byte, abi.Status) {
	ext := c.route.Ext
	switch name {
	case abi.FFIConsumerLookup:
		a, err := abi.DecodeConsumerLookupArgs(args)
		if err != nil {
			return nil, abi.StatusBadArgument
		}
		if ext == nil {
			return nil, abi.StatusNotFound
		}
		info, ok := ext.Consumers.Lookup(a.CredentialType, a.Key)
		if !ok {
			return nil, abi.StatusNotFound
		}
		c.keep.ffi = info.Encode(c.keep.ffi[:0])
		return c.keep.ffi, abi.StatusOK
	case abi.FFISetConsumer:
		a, err := abi.DecodeSetConsumerArgs(args)
		if err != nil {
			return nil, abi.StatusBadArgument
		}
		if ext == nil {
			return nil, abi.StatusNotFound
		}
		var cons *consumers.Consumer
		if a.ID != "" {
			cons = ext.Consumers.ByID(a.ID)
		} else {
			cons = ext.Consumers.ByUsername(a.Username)
		}
		if cons == nil {
			return nil, abi.StatusNotFound
		}
		c.setConsumer(cons, a.CredentialID)
		return nil, abi.StatusOK
	case abi.FFICounterIncr, abi.FFICounterGet:
		store := counters.Store(nil)
		if ext != nil {
			store = ext.Counters
		}
		if c.cur != nil && c.cur.Counters != nil {
			store = c.cur.Counters
		}
		if store == nil {
			return nil, abi.StatusUnimplemented
		}
		now := time.Now
		if ext != nil && ext.Now != nil {
			now = ext.Now
		}
		ctx := c.r.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		var n int64
		if name == abi.FFICounterIncr {
			a, err := abi.DecodeCounterIncrArgs(args)
			if err != nil {
				return nil, abi.StatusBadArgument
			}
			n, err = store.Incr(ctx, c.counterKey(a.Key), a.WindowSeconds, a.Delta, now())
			if err != nil {
				c.counterErr = err
				return nil, abi.StatusInternalFailure
			}
		} else {
			a, err := abi.DecodeCounterGetArgs(args)
			if err != nil {
				return nil, abi.StatusBadArgument
			}
			n, err = store.Get(ctx, c.counterKey(a.Key), a.WindowSeconds, now())
			if err != nil {
				c.counterErr = err
				return nil, abi.StatusInternalFailure
			}
		}
		c.keep.ffi = abi.EncodeInt64(c.keep.ffi[:0], n)
		return c.keep.ffi, abi.StatusOK
	}
	return nil, abi.StatusNotFound
}

// counterKey namespaces a plugin's counter key by the plugin's name and
// configured scope, so two routes with identical rate-limiting configs
// count separately (as Kong keys counters by the plugin's route and
// service) while every Weir process derives the same key.
func (c *chainHost) counterKey(key string) string {
	if c.cur == nil {
		return "|" + key
	}
	return c.cur.Name + "|" + c.cur.Scope + "|" + key
}

// setConsumer records the authenticated consumer and sets Kong's upstream
// headers for it (clearing the ones it does not have, so a client cannot
// forge them).
func (c *chainHost) setConsumer(cons *consumers.Consumer, credID string) {
	c.consumer, c.credID = cons, credID
	c.setOrDel(HeaderConsumerID, cons.ID)
	c.setOrDel(HeaderConsumerCustomID, cons.CustomID)
	c.setOrDel(HeaderConsumerUsername, cons.Username)
	c.setOrDel(HeaderCredentialID, credID)
	delete(c.r.Header, HeaderAnonymousConsumer)
}

// setOrDel sets request header k (canonical) to v, or deletes it when v
// is empty.
func (c *chainHost) setOrDel(k, v string) {
	if v == "" {
		delete(c.r.Header, k)
		return
	}
	c.r.Header[k] = c.one(v)
}

// consumerProperty serves the weir.consumer.* and weir.credential.id
// properties.
func (c *chainHost) consumerProperty(key string) ([]byte, abi.Status, bool) {
	switch key {
	case abi.PropWeirConsumerID, abi.PropWeirConsumerUsername, abi.PropWeirConsumerCustomID,
		abi.PropWeirCredentialID, abi.PropWeirConsumerGroups:
	default:
		return nil, 0, false
	}
	cons := c.consumer
	if cons == nil {
		return nil, abi.StatusNotFound, true
	}
	var v string
	switch key {
	case abi.PropWeirConsumerID:
		v = cons.ID
	case abi.PropWeirConsumerUsername:
		v = cons.Username
	case abi.PropWeirConsumerCustomID:
		v = cons.CustomID
	case abi.PropWeirCredentialID:
		v = c.credID
	case abi.PropWeirConsumerGroups:
		pairs := make([][2]string, len(cons.Groups))
		for i, g := range cons.Groups {
			pairs[i] = [2]string{"group", g}
		}
		return abi.EncodePairs(nil, pairs), abi.StatusOK, true
	}
	if v == "" {
		return nil, abi.StatusNotFound, true
	}
	return c.bytes(v), abi.StatusOK, true
}
