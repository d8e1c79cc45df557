// Package modules fetches plugin modules for the wasm host: from local
// files (file:///path), from https:// URLs pinned by sha256, and from OCI
// registries (oci://registry/repo:tag, @sha256: manifest digests), through
// a content-addressed local cache.
//
// Every module is verified before the caller sees it: the wasm magic, the
// digests of every manifest and blob read from a registry, the manifest
// digest the reference names, and the optional `#sha256=` pin (see [Ref]).
// A caller compiles only verified bytes.
//
// OCI layouts pulled (proxy-wasm reference notes, section 4): the CNCF
// wasm artifact (single application/wasm layer), Istio/solo.io "compat"
// images (a tar+gzip layer holding plugin.wasm, OCI or Docker v2
// manifests), solo.io's two-layer variant
// (application/vnd.module.wasm.content.layer.v1+wasm) and the legacy
// wasm-to-oci layer. [Fetcher.Push] writes the first four, for
// `weir plugin push` and the tests.
//
// Registry credentials come from a docker config file ([Options]) or,
// per fetch, from a kubernetes.io/dockerconfigjson Secret
// ([CredentialsFromDockerConfigJSON]). Plain HTTP is used only for
// registries listed in [Options.Insecure]. Requests are retried a bounded
// number of times and every fetch has a deadline.
//
// Pull policies are Istio's: IfNotPresent (the default) uses the cached
// module of a reference when there is one; Always (the default for the
// tag "latest") asks the registry on every load, and downloads only when
// the digest changed. Digest references and https pins are content
// addressed, so the cache always answers them once filled.
package modules
