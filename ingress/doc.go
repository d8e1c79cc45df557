// Package ingress is Weir's Kubernetes ingress controller: `weir ingress`.
//
// It has three parts, each usable alone:
//
//   - [Translate], a pure function from Kubernetes objects ([Objects]:
//     IngressClasses, Ingresses, Services, EndpointSlices, Secrets and
//     Kong's KongPlugin, KongClusterPlugin, KongConsumer and
//     KongUpstreamPolicy) to a Weir [config.Config], with the problems of
//     individual objects returned as data ([Failure]) instead of failing the
//     whole translation. Ingress semantics follow the Kubernetes API text
//     (element-wise Prefix, Exact beats Prefix on ties, longest path wins, a
//     "*." wildcard covers exactly one label, rules of all Ingresses for a
//     host merge, defaultBackend of the oldest Ingress, Host and path
//     forwarded unchanged); the konghq.com annotations and Kong's CRDs
//     follow the Kong Ingress Controller 3.x.
//   - [Controller], which watches the cluster with client-go informers,
//     debounces changes, translates and applies through the proxy's atomic
//     swap ([host.Server.ApplyConfigDelta], told which routes, services and
//     upstreams changed), leaves out objects the proxy rejects
//     (the last good configuration keeps serving otherwise), raises Events
//     on the objects at fault, sets Programmed conditions, and, on the
//     replica holding the Lease, writes Ingress status.
//   - [StartProxy], controller and proxy in one process (the command).
//
// Subpackage kubetest starts a real etcd and kube-apiserver for tests, and
// test backends on pod IPs inside a network namespace.
//
// [config.Config]: https://pkg.go.dev/github.com/weirproxy/weir/host/config#Config
package ingress
