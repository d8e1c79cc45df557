// Package upstream balances requests over the targets of one Kong-style
// Upstream and keeps track of their health.
//
// A [Balancer] is built per upstream and per configuration by [New] (or
// [Single] for a service that names a host directly). The proxy calls
// [Balancer.Pick] for every attempt of a request, wraps the exchange in
// [Target.Acquire]/[Target.Release], and feeds the outcome back with
// [Target.ReportStatus], [Target.ReportTCPFailure] and
// [Target.ReportTimeout]. The admin API reads [Balancer.Health].
//
// # Algorithms
//
//   - round-robin (default): nginx's smooth weighted round-robin. Over any
//     sum(weights) consecutive picks each target is chosen exactly weight
//     times, spread out rather than in bursts. Weight 0 is never picked.
//   - least-connections: fewest in-flight requests relative to weight,
//     scored (in-flight+1)/weight as Kong does; ties rotate.
//   - latency: accepted and served as least-connections. Kong's latency
//     balancer is an EWMA of response times; in-flight count already
//     reflects a slow target and needs no timing feedback.
//   - consistent-hashing: Kong's hash_on / hash_fallback inputs (none,
//     consumer, ip, header, cookie, path, query_arg, uri_capture). Keys go
//     on a ketama ring: each target owns 160 points per smallest weight,
//     placed at hash("host:port i"), so adding or removing one target
//     moves only the keys on its own points (~1/N). The ring is not sized
//     by `slots` (Kong's wheel is): with a fixed-size wheel every target's
//     share, and so its points, changes whenever one is removed. A request
//     with no key (hash_on none, or both inputs missing) is balanced
//     round-robin. Retries of a request (same *Request) walk the ring on
//     from the same point, skipping targets already tried.
//   - sticky-sessions: consistent hashing on the hash_on_cookie cookie.
//
// With hash_on cookie, a request without the cookie gets a random UUID
// value, hashed like a received one, and Pick returns the Set-Cookie
// value Kong sends: "name=uuid; Path=<hash_on_cookie_path>; SameSite=Lax;
// HttpOnly". Kong spells the attribute "Same-Site", which browsers ignore;
// Weir sends the standard spelling.
//
// Picking does not allocate for round-robin, least-connections, and for
// hashing on ip, header, path, consumer, uri_capture, query_arg (given
// once) and a received cookie.
//
// # Health
//
// Targets start healthy. Health is tracked per target with Kong's
// lua-resty-healthcheck counters (successes, http_failures, tcp_failures,
// timeouts), shared by active probes and passive reports, each side with
// its own limits: a success clears the failure counters, a failure clears
// the success counter, reaching a limit flips the state. A limit of 0
// disables that counter. Note that, as in Kong, with
// passive.healthy.successes = 0 proxied successes are not counted and do
// not reset the passive failure counters.
//
// Unhealthy targets are skipped. Pick returns [ErrNoHealthyTargets]
// (Kong's 503 message) when none is usable, or when the healthy share of
// the total weight is below healthchecks.threshold (percent).
//
// Active checks ([Balancer.Start]) probe each target at its own address
// with a fresh connection: tcp connects; http and https send one HTTP/1.1
// GET http_path with the configured headers (Host is host_header or the
// target's host:port) and classify the status. grpc and grpcs are run as
// TCP connect checks.
//
// # Cool-down
//
// Kong never brings back a target tripped by passive checks unless active
// checks of unhealthy targets are configured (unhealthy.interval > 0 and
// healthy.successes > 0): an operator has to re-enable it. Weir re-admits
// such a target after a cool-down instead — 10s by default
// ([Options].Cooldown), doubling on each further trip up to 5 minutes,
// and reset once the target serves a success. 10s is long enough for a
// crashed or restarting backend not to be hammered (each re-admission
// costs at most the configured number of failures, which the proxy
// retries elsewhere) and short enough that a recovered pod rejoins
// quickly; the doubling bounds the cost of a target that stays dead. When
// active checks can bring a target back, they alone decide.
//
// # Reloads
//
// [Options].Prev carries health state and in-flight counters to the
// same-Addr targets of the new configuration: the state object is shared,
// so requests still running on the old configuration release and report
// against the same counters.
package upstream
