// Package router is Weir's immutable, compiled route table.
//
// [Compile] turns a []Route (the lead translates config.Route into it; this
// package does not import host/config) into a [Table] that is safe for
// concurrent use and never changes: a config reload compiles a new table and
// swaps the pointer. [Table.Match] runs on every request; it does not
// allocate.
//
// # Matching
//
// A route matches a request when every non-empty field matches:
//
//   - Hosts (any one): case-insensitive. "example.com" matches that host on
//     any port (the port of the Host header is ignored); "example.com:8000"
//     also requires the Host header to carry port 8000; "*.example.com"
//     matches hosts ending in ".example.com" with at least one more label
//     (any depth, as Kong; exactly one label when Route.WildcardOneLabel is
//     set, as Kubernetes Ingress); "example.*" matches hosts starting with
//     "example." followed by at least one label (any depth, or exactly one
//     label with WildcardOneLabel). A route without hosts matches any host.
//   - Paths (any one), by Route.PathKind:
//     [PathKong] (Kong 3.x): a path starting with "~" is a Go RE2 regex
//     anchored at the start of the request path (compiled as "^(?:re)");
//     any other path is a plain string prefix ("/foo" matches "/foobar").
//     [PathExact]: byte equality. [PathPrefix]: element-wise on "/" after
//     dropping trailing slashes of the rule ("/foo" and "/foo/" match "/foo",
//     "/foo/" and "/foo/bar", not "/foobar"; "/" matches every path).
//   - Methods (any one): exact, case-sensitive (methods are uppercase).
//   - Headers: every header name must match; a name matches when any value
//     of that header (each field line is one value) matches any of the
//     route's values: ASCII case-insensitive equality, or, for a value
//     written "~*re", an unanchored case-insensitive RE2 search.
//   - SNIs (any one): case-insensitive, trailing dot ignored. A route with
//     SNIs never matches a request without SNI (for example plain HTTP).
//
// Protocols are not matched here: the proxy checks them after matching (Kong
// answers 426 when an https-only route is hit over http).
//
// # Priority
//
// Like Kong's traditional_compatible router, every route is first split into
// groups: one group with all its regex paths, one group per distinct length
// of its other paths (one group when it has no paths). Groups are tried in
// the following order, and the first group that matches wins:
//
//  1. More kinds of match fields first: the number of non-empty fields among
//     hosts, paths, methods, headers and snis (Kong's match weight).
//  2. Routes whose hosts are all plain (no wildcard) before routes with a
//     wildcard host or without hosts.
//  3. More header names first.
//  4. Regex path groups before non-regex groups.
//  5. Regex groups: higher RegexPriority first.
//  6. Non-regex groups: longer paths first (length of the path as written,
//     so Prefix "/foo/" beats Prefix "/foo"; a group without paths has
//     length 0).
//  7. Equal length: PathExact before PathPrefix before PathKong (Kubernetes
//     Ingress: Exact wins ties; Exact and Prefix beat ImplementationSpecific,
//     which the lead translates to PathKong).
//  8. Declaration order: lower index in the []Route given to Compile first
//     (Kong leaves the order of equal priorities to its route ids).
//
// Match.StripLen is the number of leading bytes of Request.Path the winning
// path consumed: the rule's length for PathKong prefixes and PathExact, the
// rule's length without trailing slashes for PathPrefix (so the rest of the
// path starts with "/" or is empty), the length of the match of the first
// matching regex (declaration order) of a regex group, and 0 for a route
// without paths. When several PathPrefix rules of one group match (only
// possible with repeated trailing slashes: "/a//" and "/a/b" both have
// length 4 and both match "/a/b"), the one consuming more bytes is used.
//
// # Differences from Kong worth knowing
//
//   - Regexes are anchored as "^(?:re)", so "~/a|/b" is anchored on both
//     branches (Kong prepends "^" only).
//   - Header regexes use (?i) instead of lowercasing the pattern; header names
//     are matched as net/http canonicalizes them, so "X_Foo" and "X-Foo" are
//     different headers (Kong folds "-" and "_").
//   - The port of a host with a port is compared with the Host header's port;
//     a Host header without a port never matches such a host.
//   - SNIs are strict (see above); Kong skips the SNI check on plain HTTP.
//   - Request.Path and Request.Host are matched as given: path normalization
//     (percent-decoding, dot segments) is the caller's job, and a Host with
//     a trailing dot ("example.com.") does not match "example.com".
//
// # Performance
//
// Compile indexes routes by host: a map of exact hosts, maps keyed by the
// suffix (".example.com") or prefix ("example.") of wildcard hosts (one map
// each for any-depth and one-label wildcards), and a bucket for host-less
// routes. Match lowercases the request host into a stack buffer and looks up
// at most one exact bucket, one bucket per dot of the host for wildcards, and
// the host-less bucket (a wildcard map is only consulted for key lengths it
// holds). Each bucket is a radix trie over path bytes: plain, Exact and
// Prefix paths sit at the node of their path, a regex at the nodes of its
// literal prefixes ("~/(orders|carts)/\d+" at "/orders/" and "/carts/"; at
// the root when it has none), routes without paths at the root. Walking the
// request path through the trie visits only the rules that can match. Each
// node keeps its rules sorted by priority and knows the best priority in its
// subtree, so the search skips rules and whole subtrees that cannot beat the
// best match found so far. Regex match ends are computed by a small
// backtracker over the regexp/syntax program (package regexp would allocate
// for them).
//
// The worst case is a bucket with many regexes without a literal prefix: all
// of them are evaluated for every request reaching that bucket.
package router
