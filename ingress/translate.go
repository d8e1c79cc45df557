package ingress

import (
	"cmp"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"sigs.k8s.io/yaml"

	"github.com/weirproxy/weir/host/config"
)

// Well-known names.
const (
	// ControllerName is the IngressClass spec.controller Weir owns.
	ControllerName = "weir.dev/ingress-controller"
	// DefaultClassAnnotation marks the cluster's default IngressClass.
	DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	// ClassAnnotation is the deprecated Ingress class annotation, still
	// the way KongConsumer and KongClusterPlugin name their class.
	ClassAnnotation = "kubernetes.io/ingress.class"
	// CredentialLabel on a Secret names its credential type.
	CredentialLabel = "konghq.com/credential"
	// GlobalLabel "true" on a KongClusterPlugin applies it to every request.
	GlobalLabel = "global"

	annPrefix = "konghq.com/"
)

// Objects is everything the translator reads. Slices may be in any order;
// Translate sorts what it needs. Objects are never modified.
type Objects struct {
	IngressClasses       []*netv1.IngressClass
	Ingresses            []*netv1.Ingress
	Services             []*corev1.Service
	EndpointSlices       []*discoveryv1.EndpointSlice
	Secrets              []*corev1.Secret
	KongPlugins          []*KongPlugin
	KongClusterPlugins   []*KongPlugin // cluster-scoped: Namespace is ""
	KongConsumers        []*KongConsumer
	KongUpstreamPolicies []*KongUpstreamPolicy
}

// Options configure Translate.
type Options struct {
	// IngressClass is the class Weir serves (flag --ingress-class).
	IngressClass string
	// Excluded lists objects to leave out, with the reason (the
	// controller fills it with objects whose entities the runtime
	// rejected, so the rest of the cluster's config still applies).
	Excluded map[Ref]string
	// LastGoodTLS holds, by Secret ("namespace/name"), the last valid
	// certificate and key of each TLS Secret (a previous Result's TLS): a
	// Secret whose data turns invalid keeps serving that pair, with a
	// failure naming it, instead of losing its hosts' certificate.
	LastGoodTLS map[string]TLSPair
}

// TLSPair is the PEM certificate chain and key of a kubernetes.io/tls
// Secret.
type TLSPair struct {
	Cert, Key []byte
}

// Ref identifies a Kubernetes object.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// Failure is one problem with one object: translated as data so the
// controller can raise an Event on the object at fault and set its
// conditions, and the rest of the config still applies.
type Failure struct {
	Object Ref `json:"object"`
	// Field locates the problem inside the object, e.g.
	// "metadata.annotations[konghq.com/methods]".
	Field string `json:"field,omitempty"`
	// Reason is a CamelCase reason for Events and conditions.
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (f Failure) String() string {
	if f.Field == "" {
		return f.Object.String() + ": " + f.Message
	}
	return f.Object.String() + ": " + f.Field + ": " + f.Message
}

// Result is the outcome of Translate.
type Result struct {
	// Config is the translated configuration (not yet normalized).
	Config *config.Config `json:"config"`
	// Failures are per-object problems, sorted.
	Failures []Failure `json:"failures,omitempty"`
	// Programmed lists the KongPlugins, KongClusterPlugins and
	// KongConsumers that are in Config (others referenced but failed
	// appear in Failures).
	Programmed []Ref `json:"programmed,omitempty"`
	// ingresses are the Ingresses of Weir's class (Ingresses).
	ingresses rope[Ref]
	// TLS holds the certificate and key served for each TLS Secret
	// ("namespace/name"), for the next translation's LastGoodTLS.
	TLS map[string]TLSPair `json:"-"`
	// origins holds, per entity kind (kindRoutes), the object answerable
	// for each entity by index (the Ingress of a route, the KongPlugin of
	// a plugin, the Service of an upstream); see Origin.
	origins [nKinds]rope[Ref]
	// stamps identify, parallel to Config's routes, services and
	// upstreams, the memoized parts each was made of (zero: made afresh);
	// see stamps.go.
	routeStamps rope[routeStamp]
	svcStamps   rope[*backendFrag]
	// spans are the runs of Ingresses replayed or recorded, where their
	// routes and services start (stamps.go).
	spans []runSpan
}

// Entity kinds, indexes of Result.origins.
const (
	kindRoutes = iota
	kindServices
	kindUpstreams
	kindTargets
	kindPlugins
	kindConsumers
	kindCertificates
	nKinds
)

var kindNames = [nKinds]string{"routes", "services", "upstreams", "targets", "plugins", "consumers", "certificates"}

// Ingresses returns the Ingresses of Weir's class (status is written to
// these and only these).
func (r *Result) Ingresses() []Ref {
	if r.ingresses.len() == 0 {
		return nil
	}
	return r.ingresses.flat()
}

// MarshalJSON encodes a Result with its Ingresses.
func (r *Result) MarshalJSON() ([]byte, error) {
	type fields Result // without this method
	return json.Marshal(struct {
		*fields
		Ingresses []Ref `json:"ingresses,omitempty"`
	}{(*fields)(r), r.Ingresses()})
}

// Origin returns the object answerable for an entity of Config given by
// its location ("routes[3]", "plugins[0]"), so an error from the runtime
// can be pinned on one object.
func (r *Result) Origin(entity string) (Ref, bool) {
	kind, rest, ok := strings.Cut(entity, "[")
	if !ok {
		return Ref{}, false
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	k := slices.Index(kindNames[:], kind)
	if err != nil || k < 0 || i < 0 || i >= r.origins[k].len() {
		return Ref{}, false
	}
	return r.origins[k].at(i), true
}

// setOrigin records the origin of entity i of a kind, the next one.
func (r *Result) setOrigin(kind, i int, ref Ref) {
	o := &r.origins[kind]
	for o.len() < i {
		o.add(Ref{})
	}
	o.add(ref)
}

// originMap is the origins by kind name, each in one slice (kinds
// without entities left out).
func (r *Result) originMap() map[string][]Ref {
	m := map[string][]Ref{}
	for k := range r.origins {
		if r.origins[k].len() > 0 {
			m[kindNames[k]] = r.origins[k].flat()
		}
	}
	return m
}

// Reasons of Failures (Event reasons).
const (
	ReasonInvalidAnnotation = "InvalidAnnotation"
	ReasonMissingObject     = "MissingObject"
	ReasonInvalid           = "Invalid"
	ReasonUnsupported       = "Unsupported"
	ReasonConflict          = "Conflict"
	ReasonRejected          = "RejectedByProxy"
	ReasonWithheld          = "RouteWithheld"
	// ReasonPluginNotProgrammed: a referenced plugin failed.
	ReasonPluginNotProgrammed = "PluginNotProgrammed"
)

type translator struct {
	opts Options
	objs *Objects
	res  *Result

	services  map[string]*corev1.Service // ns/name
	secrets   map[string]*corev1.Secret
	slices    map[string][]*discoveryv1.EndpointSlice // ns/service
	plugins   map[string]*KongPlugin                  // ns/name
	cplugins  map[string]*KongPlugin                  // name
	policies  map[string]*KongUpstreamPolicy
	classIsOK bool // our IngressClass exists with our controller (or is absent)
	isDefault bool

	backends   *backendTab // config service name -> backend
	programmed map[Ref]bool
	failedPl   map[Ref]string // KongPlugin refs that failed
	instance   map[string]int // instance_name uses
	pluginIdx  int

	memo *memo     // per-object results of earlier translations (nil: none)
	rec  *chunkRec // the run of Ingresses being recorded (nil: none)
	// indexReused: the Services, Secrets and EndpointSlices are the
	// objects of the last translation; worldSame: recorded runs of
	// Ingresses may be replayed (chunks.go).
	indexReused, worldSame bool
}

type backend struct {
	svcName, upName string
	origin          Ref
	failed          bool
}

// Translate turns objects into a Weir configuration. It is a pure
// function: same objects and options, same result (byte for byte once
// encoded). Problems with individual objects are reported in
// Result.Failures; the affected object (or only its bad part) is left out
// and everything else is translated.
func Translate(objs *Objects, opts Options) *Result { return translate(objs, opts, nil) }

func translate(objs *Objects, opts Options, m *memo) *Result {
	t := &translator{
		memo:       m,
		opts:       opts,
		objs:       objs,
		res:        &Result{Config: &config.Config{FormatVersion: config.FormatVersion}, TLS: map[string]TLSPair{}},
		plugins:    map[string]*KongPlugin{},
		cplugins:   map[string]*KongPlugin{},
		policies:   map[string]*KongUpstreamPolicy{},
		programmed: map[Ref]bool{},
		failedPl:   map[Ref]string{},
		instance:   map[string]int{},
	}
	t.memo.prealloc(t.res)
	t.index()
	t.ingressClass()
	t.worldSame = t.memo.sameWorld(t)
	t.backends = t.memo.backendTab(t.worldSame)
	t.ingresses()
	t.globalPlugins()
	t.consumers()
	t.finish()
	t.memo.recordSizes(t.res)
	return t.res
}

func key(ns, name string) string { return ns + "/" + name }

func (t *translator) fail(obj Ref, field, reason, format string, args ...any) {
	t.res.Failures = append(t.res.Failures, Failure{Object: obj, Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (t *translator) index() {
	if t.memo.sameIndex(t) {
		// The same Service, Secret and EndpointSlice objects as last
		// time: the same maps.
		t.services, t.secrets, t.slices = t.memo.index.services, t.memo.index.secrets, t.memo.index.slices
		t.indexReused = true
	} else {
		t.services = make(map[string]*corev1.Service, len(t.objs.Services))
		t.secrets = map[string]*corev1.Secret{}
		t.slices = make(map[string][]*discoveryv1.EndpointSlice, len(t.objs.Services))
		for _, s := range t.objs.Services {
			t.services[key(s.Namespace, s.Name)] = s
		}
		for _, s := range t.objs.Secrets {
			t.secrets[key(s.Namespace, s.Name)] = s
		}
		for _, es := range t.objs.EndpointSlices {
			svc := es.Labels[discoveryv1.LabelServiceName]
			if svc == "" {
				continue
			}
			k := key(es.Namespace, svc)
			t.slices[k] = append(t.slices[k], es)
		}
		for k := range t.slices {
			slices.SortFunc(t.slices[k], func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
		}
		t.memo.storeIndex(t)
	}
	for _, p := range t.objs.KongPlugins {
		t.plugins[key(p.Namespace, p.Name)] = p
	}
	for _, p := range t.objs.KongClusterPlugins {
		t.cplugins[p.Name] = p
	}
	for _, p := range t.objs.KongUpstreamPolicies {
		t.policies[key(p.Namespace, p.Name)] = p
	}
}

func (t *translator) ingressClass() {
	t.classIsOK = true
	for _, ic := range t.objs.IngressClasses {
		if ic.Name != t.opts.IngressClass {
			continue
		}
		if ic.Spec.Controller != ControllerName {
			t.classIsOK = false
			t.fail(Ref{"IngressClass", "", ic.Name}, "spec.controller", ReasonConflict,
				"IngressClass %q belongs to controller %q, not %q; Weir serves no Ingress of this class", ic.Name, ic.Spec.Controller, ControllerName)
			return
		}
		t.isDefault = ic.Annotations[DefaultClassAnnotation] == "true"
	}
}

// ours reports whether an Ingress belongs to Weir's class.
func (t *translator) ours(ing *netv1.Ingress) bool {
	if !t.classIsOK {
		return false
	}
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName == t.opts.IngressClass
	}
	if c, ok := ing.Annotations[ClassAnnotation]; ok {
		return c == t.opts.IngressClass
	}
	return t.isDefault
}

// classAnnotated is the class rule of KongConsumer and KongClusterPlugin:
// the annotation names our class, or there is none and our class is the
// default.
func (t *translator) classAnnotated(m metav1.ObjectMeta) bool {
	if !t.classIsOK {
		return false
	}
	if c, ok := m.Annotations[ClassAnnotation]; ok {
		return c == t.opts.IngressClass
	}
	return t.isDefault
}

func byAge[T interface {
	GetCreationTimestamp() metav1.Time
	GetNamespace() string
	GetName() string
}](a, b T) int {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		if ta.Before(&tb) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.GetNamespace(), b.GetNamespace()); c != 0 {
		return c
	}
	return strings.Compare(a.GetName(), b.GetName())
}

// routeGroup collects the paths of one Ingress that share host, backend
// and path type: they become one route.
type routeGroup struct {
	host     string
	backend  netv1.IngressServiceBackend
	pathType string // "Exact", "Prefix" or "" (ImplementationSpecific)
	paths    []string
	order    int
	route    config.Route // the group's route, Service left empty

	// The Service object the group's backend last resolved to, with its
	// port and config service name (a cache: same object, same answer).
	svc     *corev1.Service
	sp      *corev1.ServicePort
	svcName string
	// out is the route last emitted for the group (route with Service
	// set), shared by the configurations that have it.
	out *config.Route
}

// routeFor returns the group's route for config service svcName.
func (g *routeGroup) routeFor(svcName string) *config.Route {
	if g.out == nil || g.out.Service != svcName {
		r := g.route
		r.Service = svcName
		g.out = &r
	}
	return g.out
}

// routeAnn is the route-level annotations of an Ingress.
type routeAnn struct {
	stripPath, preserveHost *bool
	methods                 []string
	headers                 map[string][]string
	protocols               []string
	redirect                int
	regexPriority           int
	hostAliases             []string
	plugins                 []string
}

var methodRe = regexp.MustCompile(`^[A-Z]+$`)

func (t *translator) routeAnnotations(ref Ref, ann map[string]string) routeAnn {
	var ra routeAnn
	field := func(k string) string { return "metadata.annotations[" + k + "]" }
	bad := func(k, format string, args ...any) {
		t.fail(ref, field(k), ReasonInvalidAnnotation, format+"; annotation ignored", args...)
	}
	parseBool := func(k string) *bool {
		v, ok := ann[k]
		if !ok {
			return nil
		}
		var b bool
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			b = true
		case "false":
		default:
			bad(k, "%q is not true or false", v)
			return nil
		}
		return &b
	}
	ra.stripPath = parseBool(annPrefix + "strip-path")
	ra.preserveHost = parseBool(annPrefix + "preserve-host")
	if v, ok := ann[annPrefix+"methods"]; ok {
		ms := splitList(v)
		okAll := len(ms) > 0
		for _, m := range ms {
			if !methodRe.MatchString(m) {
				bad(annPrefix+"methods", "invalid method %q (want upper-case letters only)", m)
				okAll = false
				break
			}
		}
		if okAll {
			ra.methods = ms
		}
	}
	if v, ok := ann[annPrefix+"protocols"]; ok {
		ps := splitList(v)
		okAll := len(ps) > 0
		for _, p := range ps {
			if p != "http" && p != "https" && p != "grpc" && p != "grpcs" {
				bad(annPrefix+"protocols", "protocol %q is not supported (want http, https, grpc or grpcs)", p)
				okAll = false
				break
			}
		}
		if okAll {
			ra.protocols = ps
		}
	}
	if v, ok := ann[annPrefix+"https-redirect-status-code"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || !slices.Contains([]int{301, 302, 307, 308, 426}, n) {
			bad(annPrefix+"https-redirect-status-code", "%q is not one of 301, 302, 307, 308, 426", v)
		} else {
			ra.redirect = n
		}
	}
	if v, ok := ann[annPrefix+"regex-priority"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			bad(annPrefix+"regex-priority", "%q is not an integer", v)
		} else {
			ra.regexPriority = n
		}
	}
	if v, ok := ann[annPrefix+"host-aliases"]; ok {
		for _, h := range splitList(v) {
			if err := checkHost(h); err != nil {
				bad(annPrefix+"host-aliases", "host %q: %v", h, err)
				continue
			}
			ra.hostAliases = append(ra.hostAliases, strings.ToLower(h))
		}
	}
	sep := ","
	if v, ok := ann[annPrefix+"headers-separator"]; ok && v != "" {
		sep = v
	}
	for _, k := range sortedKeys(ann) {
		name, ok := strings.CutPrefix(k, annPrefix+"headers.")
		if !ok {
			continue
		}
		if !isToken(name) || strings.EqualFold(name, "host") {
			bad(k, "invalid header name %q", name)
			continue
		}
		var vals []string
		for _, v := range strings.Split(ann[k], sep) {
			if v = strings.TrimSpace(v); v != "" {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			bad(k, "no header values")
			continue
		}
		if rx := slices.IndexFunc(vals, func(v string) bool {
			r, ok := strings.CutPrefix(v, "~*")
			if !ok {
				return false
			}
			_, err := regexp.Compile(r)
			return err != nil
		}); rx >= 0 {
			bad(k, "invalid regex %q", vals[rx])
			continue
		}
		if ra.headers == nil {
			ra.headers = map[string][]string{}
		}
		ra.headers[name] = vals
	}
	ra.plugins = splitList(ann[annPrefix+"plugins"])
	return ra
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

var labelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// checkHost accepts a DNS name, optionally with a leading "*." wildcard.
func checkHost(h string) error {
	name := strings.TrimPrefix(strings.ToLower(h), "*.")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("invalid length")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if !labelRe.MatchString(l) {
			return fmt.Errorf("invalid DNS label %q", l)
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("a host name cannot end in a numeric label (it reads as an IP address)")
	}
	return nil
}

func (t *translator) ingresses() {
	ours := t.memo.ours(t)
	var d defaultState
	// Ingresses are merged in runs (chunks); a run of unchanged Ingresses
	// in an unchanged world is replayed from the memo (chunks.go).
	for idx := 0; idx < len(ours); {
		end := chunkEnd(ours, idx)
		run := ours[idx:end]
		idx = end
		if t.memo.replayChunk(t, run) {
			continue
		}
		rec := t.memo.startChunk(t, run)
		for _, e := range run {
			t.oneIngress(e.ing, &d)
		}
		t.memo.storeChunk(t, rec)
	}
	defaultRoute, defaultOrigin, defaultPlugins := d.route, d.origin, d.plugins
	// The default backend goes last: with no host and Prefix "/" it ranks
	// below every rule, and on ties the router keeps declaration order.
	if defaultRoute != nil {
		t.addRoute(defaultRoute, defaultOrigin, defaultPlugins)
	}
}

// defaultState is the default backend chosen so far (the oldest wins).
type defaultState struct {
	route   *config.Route
	origin  Ref
	plugins []pluginUse
}

// oneIngress translates one Ingress of Weir's class, in age order.
func (t *translator) oneIngress(ing *netv1.Ingress, d *defaultState) {
	ref := Ref{"Ingress", ing.Namespace, ing.Name}
	t.res.ingresses.add(ref)
	if reason, ok := t.opts.Excluded[ref]; ok {
		t.fail(ref, "", ReasonRejected, "left out: %s", reason)
		t.rec.spoil()
		return
	}
	// The parts that depend on the Ingress alone (annotations, paths,
	// route names) come from the memo when the Ingress is unchanged;
	// their failures are replayed at the same place in the sequence.
	fr := t.memo.ingress(ing)
	var ra routeAnn
	if fr != nil {
		ra = fr.ra
		t.res.Failures = append(t.res.Failures, fr.annFail...)
	} else {
		n := len(t.res.Failures)
		ra = t.routeAnnotations(ref, ing.Annotations)
		fr = &ingFrag{ra: ra, annFail: slices.Clone(t.res.Failures[n:])}
	}
	t.rec.noteIngress(fr)
	if len(ra.plugins) > 0 || len(ing.Spec.TLS) > 0 || ing.Spec.DefaultBackend != nil {
		t.rec.spoil() // plugins, certificates and the default backend are shared state
	}
	plugins, pluginsOK := t.resolvePlugins(ref, ing.Namespace, ra.plugins)
	t.tls(ref, ing)
	if fr.groups == nil {
		n := len(t.res.Failures)
		fr.groups = t.routeGroups(ref, ing, ra)
		fr.pathFail = slices.Clone(t.res.Failures[n:])
		t.memo.storeIngress(ing, fr)
	} else {
		t.res.Failures = append(t.res.Failures, fr.pathFail...)
	}
	for _, g := range fr.groups {
		svcName, ok := t.backendOf(ref, ing.Namespace, g.backend, g)
		if !ok {
			continue
		}
		r := g.routeFor(svcName)
		if be, _ := t.backends.get(svcName); !pluginsOK || be.failed {
			t.fail(ref, "", ReasonWithheld, "route for %s %s withheld: %s", hostOrAny(g.host), strings.Join(g.paths, " "), withheldWhy(pluginsOK))
			continue
		}
		t.addRoute(r, ref, plugins)
		t.res.routeStamps.setLast(routeStamp{g, svcName})
	}
	if db := ing.Spec.DefaultBackend; db != nil && d.route == nil {
		if db.Service == nil {
			t.fail(ref, "spec.defaultBackend", ReasonUnsupported, "only Service backends are supported")
		} else if svcName, ok := t.backend(ref, ing.Namespace, *db.Service); ok {
			r := t.route(ref, sanitize(ing.Namespace+"."+ing.Name+".default-backend"), svcName, ra)
			r.Paths, r.PathType = []string{"/"}, "Prefix"
			if be, _ := t.backends.get(svcName); pluginsOK && !be.failed {
				d.route, d.origin, d.plugins = &r, ref, plugins
			} else {
				t.fail(ref, "spec.defaultBackend", ReasonWithheld, "default backend withheld: %s", withheldWhy(pluginsOK))
			}
		}
	} else if db != nil {
		t.fail(ref, "spec.defaultBackend", ReasonConflict, "ignored: the oldest Ingress with a defaultBackend, %s, wins", d.origin)
	}
}

// routeGroups groups the paths of an Ingress into routes: (host, backend,
// path type) in order of appearance, each with its route (Service left
// empty). It depends on the Ingress alone.
func (t *translator) routeGroups(ref Ref, ing *netv1.Ingress, ra routeAnn) []*routeGroup {
	// Group paths: (host, backend, path type) in order of appearance.
	var groups []*routeGroup
	find := func(g routeGroup) *routeGroup {
		for _, x := range groups {
			if x.host == g.host && x.pathType == g.pathType && x.backend.Name == g.backend.Name &&
				x.backend.Port.Name == g.backend.Port.Name && x.backend.Port.Number == g.backend.Port.Number {
				return x
			}
		}
		x := &g
		x.order = len(groups)
		groups = append(groups, x)
		return x
	}
	for i, rule := range ing.Spec.Rules {
		host := strings.ToLower(rule.Host)
		if host != "" {
			if err := checkHost(host); err != nil {
				t.fail(ref, fmt.Sprintf("spec.rules[%d].host", i), ReasonInvalid, "host %q: %v; rule skipped", rule.Host, err)
				continue
			}
		}
		if rule.HTTP == nil {
			continue
		}
		for j, p := range rule.HTTP.Paths {
			f := fmt.Sprintf("spec.rules[%d].http.paths[%d]", i, j)
			if p.Backend.Service == nil {
				t.fail(ref, f+".backend", ReasonUnsupported, "only Service backends are supported; path skipped")
				continue
			}
			pt := netv1.PathTypeImplementationSpecific
			if p.PathType != nil {
				pt = *p.PathType
			}
			path := p.Path
			if path == "" {
				path = "/"
			}
			var kind string
			switch pt {
			case netv1.PathTypeExact:
				kind = "Exact"
			case netv1.PathTypePrefix:
				kind = "Prefix"
			case netv1.PathTypeImplementationSpecific:
				// Kong's meaning (KIC): a string prefix, or a regex
				// when the path starts with "/~".
				if rx, ok := strings.CutPrefix(path, "/~"); ok {
					if _, err := regexp.Compile(rx); err != nil {
						t.fail(ref, f+".path", ReasonInvalid, "invalid regex %q: %v; path skipped", rx, err)
						continue
					}
					path = "~" + rx
				}
			default:
				t.fail(ref, f+".pathType", ReasonInvalid, "unknown pathType %q; path skipped", pt)
				continue
			}
			if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "~") {
				t.fail(ref, f+".path", ReasonInvalid, "path %q must start with /; path skipped", path)
				continue
			}
			g := find(routeGroup{host: host, backend: *p.Backend.Service, pathType: kind})
			if !slices.Contains(g.paths, path) {
				g.paths = append(g.paths, path)
			}
		}
	}
	if groups == nil {
		groups = []*routeGroup{} // computed, none
	}
	for _, g := range groups {
		name := routeName(ing.Namespace, ing.Name, g.backend, g.host, g.pathType)
		r := t.route(ref, name, "", ra)
		if g.host != "" {
			r.Hosts = append(r.Hosts, g.host)
		}
		r.Hosts = appendUnique(r.Hosts, ra.hostAliases...)
		r.Paths = g.paths
		r.PathType = g.pathType
		g.route = r
	}
	return groups
}

func withheldWhy(pluginsOK bool) string {
	if !pluginsOK {
		return "a plugin it names is missing or invalid (fail closed: never serve without a requested plugin)"
	}
	return "its backend Service is invalid"
}

func hostOrAny(h string) string {
	if h == "" {
		return "any host"
	}
	return "host " + h
}

func appendUnique(s []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(s, a) {
			s = append(s, a)
		}
	}
	return s
}

var nameReplacer = strings.NewReplacer("*", "_", "/", "_", ":", "_")

func sanitize(s string) string { return nameReplacer.Replace(s) }

func portString(p netv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Number))
}

func routeName(ns, ing string, b netv1.IngressServiceBackend, host, pathType string) string {
	pt := strings.ToLower(pathType)
	if pt == "" {
		pt = "is"
	}
	if host == "" {
		host = "any"
	}
	return sanitize(fmt.Sprintf("%s.%s.%s.%s.%s.%s", ns, ing, b.Name, host, portString(b.Port), pt))
}

func (t *translator) route(ref Ref, name, svcName string, ra routeAnn) config.Route {
	f, tr := false, true
	r := config.Route{
		Name:             name,
		Service:          svcName,
		StripPath:        &f,
		PreserveHost:     &tr,
		Protocols:        []string{"http", "https"},
		Methods:          ra.methods,
		Headers:          ra.headers,
		RegexPriority:    ra.regexPriority,
		OneLabelWildcard: true,
		Tags:             objectTags(ref),
	}
	if ra.stripPath != nil {
		r.StripPath = ra.stripPath
	}
	if ra.preserveHost != nil {
		r.PreserveHost = ra.preserveHost
	}
	if ra.protocols != nil {
		r.Protocols = ra.protocols
	}
	if ra.redirect != 0 {
		r.HTTPSRedirectStatusCode = ra.redirect
	}
	return r
}

func objectTags(ref Ref) []string {
	tags := []string{"k8s-kind:" + ref.Kind, "k8s-name:" + ref.Name}
	if ref.Namespace != "" {
		tags = append(tags, "k8s-namespace:"+ref.Namespace)
	}
	return tags
}

func (t *translator) addRoute(r *config.Route, origin Ref, plugins []pluginUse) {
	c := t.res.Config
	// Route names must be unique; two Ingresses cannot collide (names
	// carry namespace and name), one Ingress cannot either (grouping).
	t.res.setOrigin(kindRoutes, len(c.Routes), origin)
	c.Routes = append(c.Routes, r)
	t.res.routeStamps.add(routeStamp{})
	for _, pu := range plugins {
		p := t.plugin(pu)
		p.Route = r.Name
		t.addPlugin(p, pu.ref)
	}
}

// pluginUse is a resolved plugin reference.
type pluginUse struct {
	ref Ref
	kp  *KongPlugin
	cfg json.RawMessage
}

// resolvePlugins resolves a konghq.com/plugins list: a KongPlugin in ns,
// else a KongClusterPlugin of that name. ok is false when any reference
// cannot be served; callers then withhold what the plugins were for.
func (t *translator) resolvePlugins(from Ref, ns string, names []string) ([]pluginUse, bool) {
	var out []pluginUse
	ok := true
	field := "metadata.annotations[konghq.com/plugins]"
	for _, n := range names {
		if strings.Contains(n, ":") {
			t.fail(from, field, ReasonUnsupported, "cross-namespace plugin reference %q is not supported (it needs a ReferenceGrant)", n)
			ok = false
			continue
		}
		var kp *KongPlugin
		var ref Ref
		if p, found := t.plugins[key(ns, n)]; found {
			kp, ref = p, Ref{"KongPlugin", ns, n}
		} else if p, found := t.cplugins[n]; found {
			kp, ref = p, Ref{"KongClusterPlugin", "", n}
		} else {
			t.fail(from, field, ReasonMissingObject, "no KongPlugin %q in namespace %q and no KongClusterPlugin %q", n, ns, n)
			ok = false
			continue
		}
		cfg, good := t.pluginConfig(ref, kp)
		if !good {
			t.fail(from, field, ReasonPluginNotProgrammed, "%s is not programmed (see its conditions)", ref)
			ok = false
			continue
		}
		if slices.ContainsFunc(out, func(u pluginUse) bool { return u.kp.Plugin == kp.Plugin }) {
			t.fail(from, field, ReasonConflict, "%s runs plugin %q, which another listed plugin already runs here (one instance per plugin and entity)", ref, kp.Plugin)
			ok = false
			continue
		}
		out = append(out, pluginUse{ref: ref, kp: kp, cfg: cfg})
	}
	return out, ok
}

// pluginConfig computes a plugin's configuration (config, configFrom,
// configPatches), recording a failure on the plugin once.
func (t *translator) pluginConfig(ref Ref, kp *KongPlugin) (json.RawMessage, bool) {
	if reason, bad := t.failedPl[ref]; bad {
		return nil, reason == ""
	}
	failp := func(field, reason, format string, args ...any) (json.RawMessage, bool) {
		t.fail(ref, field, reason, format, args...)
		t.failedPl[ref] = reason
		return nil, false
	}
	if reason, ok := t.opts.Excluded[ref]; ok {
		return failp("", ReasonRejected, "%s", reason)
	}
	if kp.Plugin == "" {
		return failp("plugin", ReasonInvalid, "must name a plugin")
	}
	secretNS := func(r SecretKeyRef) string {
		if ref.Kind == "KongClusterPlugin" {
			return r.Namespace
		}
		return ref.Namespace
	}
	var cfg json.RawMessage = kp.Config
	switch {
	case kp.ConfigFrom != nil && len(kp.Config) > 0:
		return failp("configFrom", ReasonInvalid, "config and configFrom cannot both be set")
	case kp.ConfigFrom != nil:
		r := kp.ConfigFrom.SecretKeyRef
		v, err := t.secretValue(secretNS(r), r.Name, r.Key)
		if err != nil {
			return failp("configFrom.secretKeyRef", ReasonMissingObject, "%v", err)
		}
		var obj map[string]any
		if err := yamlOrJSON(v, &obj); err != nil {
			return failp("configFrom.secretKeyRef", ReasonInvalid, "Secret %s key %q: not a JSON or YAML object: %v", r.Name, r.Key, err)
		}
		cfg, _ = json.Marshal(obj)
	}
	if len(kp.ConfigPatches) > 0 {
		if kp.ConfigFrom != nil {
			return failp("configPatches", ReasonInvalid, "configFrom and configPatches cannot both be set")
		}
		var obj any = map[string]any{}
		if len(cfg) > 0 {
			if err := json.Unmarshal(cfg, &obj); err != nil {
				return failp("config", ReasonInvalid, "%v", err)
			}
		}
		for i, p := range kp.ConfigPatches {
			f := fmt.Sprintf("configPatches[%d]", i)
			r := p.ValueFrom.SecretKeyRef
			v, err := t.secretValue(secretNS(r), r.Name, r.Key)
			if err != nil {
				return failp(f+".valueFrom", ReasonMissingObject, "%v", err)
			}
			var val any
			if err := json.Unmarshal(v, &val); err != nil {
				val = string(v) // a plain string value
			}
			if obj, err = jsonPatchAdd(obj, p.Path, val); err != nil {
				return failp(f+".path", ReasonInvalid, "%v", err)
			}
		}
		cfg, _ = json.Marshal(obj)
	}
	if len(cfg) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cfg, &obj); err != nil || obj == nil {
			return failp("config", ReasonInvalid, "the plugin configuration must be a JSON object")
		}
	}
	for i, p := range kp.Protocols {
		if p != "http" && p != "https" && p != "grpc" && p != "grpcs" {
			return failp(fmt.Sprintf("protocols[%d]", i), ReasonUnsupported, "protocol %q is not supported by Weir", p)
		}
	}
	t.failedPl[ref] = "" // computed once; "" = good
	t.programmed[ref] = true
	return cfg, true
}

// jsonPatchAdd applies an RFC 6902 "add" at an RFC 6901 pointer.
func jsonPatchAdd(doc any, ptr string, val any) (any, error) {
	if ptr == "" {
		return val, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("JSON pointer %q must start with /", ptr)
	}
	toks := strings.Split(ptr[1:], "/")
	for i := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(toks[i], "~1", "/"), "~0", "~")
	}
	var add func(cur any, toks []string) (any, error)
	add = func(cur any, toks []string) (any, error) {
		tok := toks[0]
		switch c := cur.(type) {
		case map[string]any:
			if len(toks) == 1 {
				c[tok] = val
				return c, nil
			}
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("JSON pointer %q: %q does not exist", ptr, tok)
			}
			nv, err := add(next, toks[1:])
			if err != nil {
				return nil, err
			}
			c[tok] = nv
			return c, nil
		case []any:
			idx := len(c)
			if tok != "-" {
				n, err := strconv.Atoi(tok)
				if err != nil || n < 0 || n > len(c) {
					return nil, fmt.Errorf("JSON pointer %q: bad array index %q", ptr, tok)
				}
				idx = n
			}
			if len(toks) == 1 {
				return slices.Insert(c, idx, val), nil
			}
			if idx >= len(c) {
				return nil, fmt.Errorf("JSON pointer %q: index %q out of range", ptr, tok)
			}
			nv, err := add(c[idx], toks[1:])
			if err != nil {
				return nil, err
			}
			c[idx] = nv
			return c, nil
		default:
			return nil, fmt.Errorf("JSON pointer %q: %q is not inside an object or array", ptr, tok)
		}
	}
	return add(doc, toks)
}

func (t *translator) secretValue(ns, name, k string) ([]byte, error) {
	s, ok := t.secrets[key(ns, name)]
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s not found", ns, name)
	}
	v, ok := s.Data[k]
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s has no key %q", ns, name, k)
	}
	return v, nil
}

func (t *translator) plugin(pu pluginUse) config.Plugin {
	kp := pu.kp
	p := config.Plugin{
		Name:      kp.Plugin,
		Config:    pu.cfg,
		Protocols: kp.Protocols,
		Ordering:  kp.Ordering,
		Tags:      objectTags(pu.ref),
	}
	if kp.Disabled {
		f := false
		p.Enabled = &f
	}
	// Weir's fail_policy (closed | open) for a module that cannot be
	// served; the proxy validates the value.
	p.FailPolicy = kp.Annotations[AnnotationFailPolicy]
	if kp.InstanceName != "" {
		// instance_name is unique in Kong; a KongPlugin attached to
		// several entities gets a numbered name after the first.
		n := t.instance[kp.InstanceName]
		t.instance[kp.InstanceName] = n + 1
		p.InstanceName = kp.InstanceName
		if n > 0 {
			p.InstanceName += "-" + strconv.Itoa(n)
		}
	}
	return p
}

func (t *translator) addPlugin(p config.Plugin, origin Ref) {
	c := t.res.Config
	t.res.setOrigin(kindPlugins, len(c.Plugins), origin)
	c.Plugins = append(c.Plugins, p)
}

// backend returns the config service for an Ingress backend, creating the
// service, its upstream and targets on first use.
func (t *translator) backend(from Ref, ns string, b netv1.IngressServiceBackend) (string, bool) {
	return t.backendOf(from, ns, b, nil)
}

// backendOf is backend for a route group, which remembers the Service
// port and config service name it last resolved to (g may be nil).
func (t *translator) backendOf(from Ref, ns string, b netv1.IngressServiceBackend, g *routeGroup) (string, bool) {
	svc, ok := t.services[key(ns, b.Name)]
	svcRef := Ref{"Service", ns, b.Name}
	if !ok {
		// Serve the paths with an empty upstream (503) rather than let
		// them fall through to a less specific rule.
		t.fail(from, "", ReasonMissingObject, "backend Service %s/%s not found; its paths answer 503", ns, b.Name)
		name := sanitize(fmt.Sprintf("%s.%s.%s", ns, b.Name, portString(b.Port)))
		t.rec.noteBackend(t, name)
		if _, done := t.backends.get(name); !done {
			up := name + ".svc"
			t.backends.set(name, &backend{svcName: name, upName: up, origin: svcRef})
			t.addService(&config.Service{Name: name, Host: up, Port: 80, Protocol: "http"}, from)
			t.addUpstream(&config.Upstream{Name: up}, from)
		}
		return name, true
	}
	var sp *corev1.ServicePort
	var name string
	if g != nil && g.svc == svc {
		sp, name = g.sp, g.svcName
	} else {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if (b.Port.Name != "" && p.Name == b.Port.Name) || (b.Port.Name == "" && p.Port == b.Port.Number) {
				sp = p
				break
			}
		}
		if sp != nil {
			name = sanitize(ns + "." + svc.Name + "." + strconv.Itoa(int(sp.Port)))
		}
		if g != nil {
			g.svc, g.sp, g.svcName = svc, sp, name
		}
	}
	if sp == nil {
		t.fail(from, "", ReasonMissingObject, "Service %s/%s has no port %s", ns, b.Name, portString(b.Port))
		return "", false
	}
	t.rec.noteBackend(t, name)
	if _, done := t.backends.get(name); done {
		return name, true
	}
	if reason, ok := t.opts.Excluded[svcRef]; ok {
		t.fail(svcRef, "", ReasonRejected, "left out: %s", reason)
		t.backends.set(name, &backend{svcName: name, failed: true, origin: svcRef})
		return name, true
	}
	// The Service's own part (annotations, policy, targets) comes from
	// the memo when the Service, its EndpointSlices and its policy are
	// unchanged; its failures are replayed in order.
	bf := t.memo.backend(t, name, svc, sp)
	if bf != nil {
		t.res.Failures = append(t.res.Failures, bf.fail...)
	} else {
		n := len(t.res.Failures)
		bf = t.backendPart(svcRef, svc, sp, name)
		bf.fail = slices.Clone(t.res.Failures[n:])
		t.memo.storeBackend(t, name, svc, sp, bf)
	}
	t.rec.noteBackendFrag(bf)
	be := &backend{svcName: name, upName: bf.up.Name, origin: svcRef}
	t.backends.set(name, be)
	plugins, ok := t.resolvePlugins(svcRef, ns, bf.plugins)
	if !ok {
		be.failed = true
	}
	if be.failed {
		return name, true
	}
	// The part's entities go into the configuration as they are: no one
	// writes to an entity once made (the proxy normalizes copies).
	t.addService(&bf.svc, svcRef)
	t.addUpstream(&bf.up, svcRef)
	if t.memo != nil {
		t.res.svcStamps.setLast(bf)
	}
	for i := range bf.targets {
		t.res.setOrigin(kindTargets, len(t.res.Config.Targets), svcRef)
		t.res.Config.Targets = append(t.res.Config.Targets, &bf.targets[i])
	}
	for _, pu := range plugins {
		p := t.plugin(pu)
		p.Service = name
		t.addPlugin(p, pu.ref)
	}
	return name, true
}

// backendPart translates what a backend takes from its Service alone:
// the config service and upstream (annotations, KongUpstreamPolicy), the
// plugin names it lists and its targets.
func (t *translator) backendPart(svcRef Ref, svc *corev1.Service, sp *corev1.ServicePort, name string) *backendFrag {
	ns := svc.Namespace
	upName := fmt.Sprintf("%s.%s.%d.svc", svc.Name, ns, sp.Port)
	s := config.Service{Name: name, Host: upName, Port: 80, Protocol: "http", Tags: objectTags(svcRef)}
	sa := t.serviceAnnotations(svcRef, svc.Annotations, &s)
	up := config.Upstream{Name: upName, Tags: objectTags(svcRef), HostHeader: sa.hostHeader}
	if sa.policy != "" {
		// A policy that cannot be applied leaves the default balancing
		// (reported); unlike a plugin it guards nothing.
		t.upstreamPolicy(svcRef, ns, sa.policy, &up)
	}
	bf := &backendFrag{svc: s, up: up, plugins: sa.plugins}
	for _, target := range t.targets(svc, sp, sa.serviceUpstream) {
		bf.targets = append(bf.targets, config.Target{Upstream: upName, Target: target})
	}
	return bf
}

func (t *translator) addService(s *config.Service, origin Ref) {
	c := t.res.Config
	t.res.setOrigin(kindServices, len(c.Services), origin)
	c.Services = append(c.Services, s)
	t.res.svcStamps.add(nil)
}

func (t *translator) addUpstream(u *config.Upstream, origin Ref) {
	c := t.res.Config
	t.res.setOrigin(kindUpstreams, len(c.Upstreams), origin)
	c.Upstreams = append(c.Upstreams, u)
}

type serviceAnn struct {
	plugins         []string
	policy          string
	hostHeader      string
	serviceUpstream bool
}

func (t *translator) serviceAnnotations(ref Ref, ann map[string]string, s *config.Service) serviceAnn {
	var sa serviceAnn
	field := func(k string) string { return "metadata.annotations[" + k + "]" }
	bad := func(k, format string, args ...any) {
		t.fail(ref, field(k), ReasonInvalidAnnotation, format+"; annotation ignored", args...)
	}
	if v, ok := ann[annPrefix+"protocol"]; ok {
		switch v {
		case "http", "https", "grpc", "grpcs":
			s.Protocol = v
		default:
			bad(annPrefix+"protocol", "protocol %q is not supported (want http, https, grpc or grpcs)", v)
		}
	}
	if v, ok := ann[annPrefix+"path"]; ok {
		if !strings.HasPrefix(v, "/") {
			bad(annPrefix+"path", "%q must start with /", v)
		} else {
			s.Path = v
		}
	}
	if s.Protocol == "grpc" || s.Protocol == "grpcs" {
		s.Path = ""
	}
	ms := func(k string, dst *int) {
		v, ok := ann[annPrefix+k]
		if !ok {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 2147483646 {
			bad(annPrefix+k, "%q is not a non-negative integer", v)
			return
		}
		*dst = n
	}
	ms("connect-timeout", &s.ConnectTimeout)
	ms("read-timeout", &s.ReadTimeout)
	ms("write-timeout", &s.WriteTimeout)
	if _, ok := ann[annPrefix+"retries"]; ok {
		n := -1
		ms("retries", &n)
		if n > 32767 {
			bad(annPrefix+"retries", "%d is above 32767", n)
		} else if n >= 0 {
			s.Retries = &n
		}
	}
	if v, ok := ann[annPrefix+"host-header"]; ok {
		if err := checkHost(v); err != nil || strings.HasPrefix(v, "*.") {
			bad(annPrefix+"host-header", "%q is not a host name", v)
		} else {
			sa.hostHeader = v
		}
	}
	sa.policy = ann[annPrefix+"upstream-policy"]
	sa.plugins = splitList(ann[annPrefix+"plugins"])
	if v, ok := ann["ingress.kubernetes.io/service-upstream"]; ok {
		sa.serviceUpstream = v == "true"
	}
	return sa
}

// targets lists "ip:port" for the ready endpoints of a Service port.
func (t *translator) targets(svc *corev1.Service, sp *corev1.ServicePort, serviceUpstream bool) []string {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return []string{net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(sp.Port)))}
	}
	if serviceUpstream {
		return []string{net.JoinHostPort(svc.Name+"."+svc.Namespace+".svc", strconv.Itoa(int(sp.Port)))}
	}
	seen := map[string]bool{}
	var out []string
	for _, es := range t.slices[key(svc.Namespace, svc.Name)] {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port := int32(-1)
		for _, p := range es.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if name == sp.Name && proto == corev1.ProtocolTCP && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port < 0 {
			// No port by name: a numeric targetPort still tells where.
			if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal > 0 && len(es.Ports) == 0 {
				port = sp.TargetPort.IntVal
			} else {
				continue
			}
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue // not ready, including terminating endpoints
			}
			if len(ep.Addresses) == 0 {
				continue
			}
			tg := net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port)))
			if !seen[tg] {
				seen[tg] = true
				out = append(out, tg)
			}
		}
	}
	sort.Strings(out)
	return out
}

// upstreamPolicy applies a KongUpstreamPolicy to up.
func (t *translator) upstreamPolicy(from Ref, ns, name string, up *config.Upstream) bool {
	ref := Ref{"KongUpstreamPolicy", ns, name}
	p, ok := t.policies[key(ns, name)]
	if !ok {
		t.fail(from, "metadata.annotations[konghq.com/upstream-policy]", ReasonMissingObject, "no KongUpstreamPolicy %q in namespace %q", name, ns)
		return false
	}
	if reason, ok := t.opts.Excluded[ref]; ok {
		t.fail(ref, "", ReasonRejected, "left out: %s", reason)
		return false
	}
	s := p.Spec
	switch s.Algorithm {
	case "", "round-robin", "consistent-hashing", "least-connections", "latency":
	default:
		t.fail(ref, "spec.algorithm", ReasonUnsupported, "algorithm %q is not supported by Weir; policy not applied", s.Algorithm)
		return false
	}
	if s.StickySessions != nil {
		t.fail(ref, "spec.stickySessions", ReasonUnsupported, "sticky sessions are not supported by Weir; policy not applied")
		return false
	}
	up.Algorithm = s.Algorithm
	if s.Slots != nil {
		up.Slots = *s.Slots
	}
	hash := func(h *KongUpstreamHash, on, header, cookie, cookiePath, query, capture *string) {
		switch {
		case h.Input != "":
			*on = h.Input
		case h.Header != "":
			*on, *header = "header", h.Header
		case h.Cookie != "" && cookie != nil:
			*on, *cookie = "cookie", h.Cookie
			if h.CookiePath != "" {
				*cookiePath = h.CookiePath
			}
		case h.QueryArg != "":
			*on, *query = "query_arg", h.QueryArg
		case h.URICapture != "":
			*on, *capture = "uri_capture", h.URICapture
		}
	}
	if s.HashOn != nil {
		hash(s.HashOn, &up.HashOn, &up.HashOnHeader, &up.HashOnCookie, &up.HashOnCookiePath, &up.HashOnQueryArg, &up.HashOnURICapture)
	}
	if s.HashOnFallback != nil {
		var unused string
		hash(s.HashOnFallback, &up.HashFallback, &up.HashFallbackHeader, nil, &unused, &up.HashFallbackQueryArg, &up.HashFallbackURICapture)
	}
	if hc := s.Healthchecks; hc != nil {
		if hc.Threshold != nil {
			up.Healthchecks.Threshold = float64(*hc.Threshold)
		}
		if a := hc.Active; a != nil {
			d := &up.Healthchecks.Active
			d.Type, d.HTTPPath, d.HTTPSSNI, d.HTTPSVerifyCertificate, d.Headers = a.Type, a.HTTPPath, a.HTTPSSNI, a.HTTPSVerifyCertificate, a.Headers
			setInt(&d.Concurrency, a.Concurrency)
			if a.Timeout != nil {
				d.Timeout = float64(*a.Timeout)
			}
			healthy(&d.Healthy, a.Healthy)
			unhealthy(&d.Unhealthy, a.Unhealthy)
		}
		if p := hc.Passive; p != nil {
			d := &up.Healthchecks.Passive
			d.Type = p.Type
			healthy(&d.Healthy, p.Healthy)
			unhealthy(&d.Unhealthy, p.Unhealthy)
		}
	}
	return true
}

func setInt(dst *int, src *int) {
	if src != nil {
		*dst = *src
	}
}

func healthy(d *config.Healthy, s *KongHealthy) {
	if s == nil {
		return
	}
	if s.Interval != nil {
		d.Interval = float64(*s.Interval)
	}
	setInt(&d.Successes, s.Successes)
	d.HTTPStatuses = s.HTTPStatuses
}

func unhealthy(d *config.Unhealthy, s *KongUnhealthy) {
	if s == nil {
		return
	}
	if s.Interval != nil {
		d.Interval = float64(*s.Interval)
	}
	setInt(&d.HTTPFailures, s.HTTPFailures)
	setInt(&d.TCPFailures, s.TCPFailures)
	setInt(&d.Timeouts, s.Timeouts)
	d.HTTPStatuses = s.HTTPStatuses
}

// tls turns spec.tls of an Ingress into certificates with SNIs. A
// certificate is shared by every Ingress naming the same Secret; an SNI
// already served by another Secret stays with the first (oldest Ingress).
func (t *translator) tls(ref Ref, ing *netv1.Ingress) {
	for i, tl := range ing.Spec.TLS {
		f := fmt.Sprintf("spec.tls[%d]", i)
		if tl.SecretName == "" {
			continue // a default-certificate request; Weir has none to pick
		}
		sk := key(ing.Namespace, tl.SecretName)
		s, ok := t.secrets[sk]
		if !ok {
			t.fail(ref, f+".secretName", ReasonMissingObject, "Secret %s not found", sk)
			continue
		}
		crt, kb := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
		if _, err := tls.X509KeyPair(crt, kb); err != nil {
			prev, ok := t.opts.LastGoodTLS[sk]
			if !ok {
				t.fail(ref, f+".secretName", ReasonInvalid, "Secret %s: %v", sk, err)
				continue
			}
			t.fail(ref, f+".secretName", ReasonInvalid, "Secret %s: %v (its last good certificate keeps serving)", sk, err)
			crt, kb = prev.Cert, prev.Key
		}
		t.res.TLS[sk] = TLSPair{Cert: crt, Key: kb}
		ci := slices.IndexFunc(t.res.Config.Certificates, func(c config.Certificate) bool {
			return slices.Contains(c.Tags, "k8s-secret:"+sanitize(sk))
		})
		if ci < 0 {
			ci = len(t.res.Config.Certificates)
			t.res.setOrigin(kindCertificates, ci, ref)
			t.res.Config.Certificates = append(t.res.Config.Certificates, config.Certificate{
				Cert: string(crt), Key: string(kb), Tags: []string{"k8s-secret:" + sanitize(sk)},
			})
		}
		for _, h := range tl.Hosts {
			h = strings.ToLower(h)
			if owner := t.sniOwner(h); owner >= 0 {
				if owner != ci {
					t.fail(ref, f+".hosts", ReasonConflict, "host %q is already served by another Secret's certificate", h)
				}
				continue
			}
			c := &t.res.Config.Certificates[ci]
			c.SNIs = append(c.SNIs, config.SNI{Name: h})
		}
	}
}

func (t *translator) sniOwner(h string) int {
	for i, c := range t.res.Config.Certificates {
		for _, s := range c.SNIs {
			if s.Name == h {
				return i
			}
		}
	}
	return -1
}

// globalPlugins applies KongClusterPlugins labelled global: "true" of our
// class.
func (t *translator) globalPlugins() {
	cps := slices.Clone(t.objs.KongClusterPlugins)
	slices.SortFunc(cps, func(a, b *KongPlugin) int { return strings.Compare(a.Name, b.Name) })
	for _, kp := range cps {
		if kp.Labels[GlobalLabel] != "true" || !t.classAnnotated(kp.ObjectMeta) {
			continue
		}
		ref := Ref{"KongClusterPlugin", "", kp.Name}
		cfg, ok := t.pluginConfig(ref, kp)
		if !ok {
			continue
		}
		t.addPlugin(t.plugin(pluginUse{ref: ref, kp: kp, cfg: cfg}), ref)
	}
}

// consumers translates KongConsumers of our class with their credential
// Secrets. A consumer with a bad credential is left out whole: an
// identity that cannot authenticate as declared must not half-exist.
func (t *translator) consumers() {
	kcs := slices.Clone(t.objs.KongConsumers)
	slices.SortFunc(kcs, byAge)
	users := map[string]Ref{}
	keys := map[string]Ref{} // "type\x00unique value" -> owner
	for _, kc := range kcs {
		if !t.classAnnotated(kc.ObjectMeta) {
			continue
		}
		ref := Ref{"KongConsumer", kc.Namespace, kc.Name}
		failc := func(field, reason, format string, args ...any) {
			t.fail(ref, field, reason, format, args...)
		}
		if reason, ok := t.opts.Excluded[ref]; ok {
			failc("", ReasonRejected, "%s", reason)
			continue
		}
		if kc.Username == "" && kc.CustomID == "" {
			failc("username", ReasonInvalid, "one of username or custom_id is required")
			continue
		}
		if kc.Username != "" {
			if other, dup := users[kc.Username]; dup {
				failc("username", ReasonConflict, "username %q is already used by %s", kc.Username, other)
				continue
			}
		}
		c := config.Consumer{Username: kc.Username, CustomID: kc.CustomID, Tags: objectTags(ref)}
		ok := true
		var claims []string
		for i, name := range kc.Credentials {
			f := fmt.Sprintf("credentials[%d]", i)
			s, found := t.secrets[key(kc.Namespace, name)]
			if !found {
				failc(f, ReasonMissingObject, "credential Secret %q not found", name)
				ok = false
				break
			}
			typ := s.Labels[CredentialLabel]
			get := func(k string) string { return string(s.Data[k]) }
			need := func(ks ...string) bool {
				for _, k := range ks {
					if get(k) == "" {
						failc(f, ReasonInvalid, "credential Secret %q (%s) needs key %q", name, typ, k)
						return false
					}
				}
				return true
			}
			unique := func(v string) bool {
				k := typ + "\x00" + v
				if other, dup := keys[k]; dup && other != ref {
					failc(f, ReasonConflict, "credential Secret %q: %s %q is already used by %s", name, typ, v, other)
					return false
				}
				claims = append(claims, k)
				return true
			}
			switch typ {
			case "key-auth":
				ok = need("key") && unique(get("key"))
				if ok {
					c.KeyauthCredentials = append(c.KeyauthCredentials, config.KeyauthCredential{Key: get("key")})
				}
			case "basic-auth":
				ok = need("username", "password") && unique(get("username"))
				if ok {
					c.BasicauthCredentials = append(c.BasicauthCredentials, config.BasicauthCredential{Username: get("username"), Password: get("password")})
				}
			case "jwt":
				ok = need("key") && unique(get("key"))
				if ok {
					alg := cmp.Or(get("algorithm"), "HS256")
					j := config.JWTSecret{Key: get("key"), Algorithm: alg, Secret: get("secret"), RSAPublicKey: get("rsa_public_key")}
					if strings.HasPrefix(alg, "HS") {
						ok = need("secret")
					} else {
						ok = need("rsa_public_key")
					}
					if ok {
						c.JWTSecrets = append(c.JWTSecrets, j)
					}
				}
			case "acl":
				ok = need("group")
				if ok {
					c.ACLs = append(c.ACLs, config.ACLGroup{Group: get("group")})
				}
			case "hmac-auth":
				ok = need("username", "secret") && unique(get("username"))
				if ok {
					b, _ := json.Marshal(map[string]string{"username": get("username"), "secret": get("secret")})
					c.HMACAuthCredentials = append(c.HMACAuthCredentials, b)
				}
			case "":
				failc(f, ReasonInvalid, "credential Secret %q has no %s label", name, CredentialLabel)
				ok = false
			default:
				failc(f, ReasonUnsupported, "credential Secret %q: type %q is not supported by Weir", name, typ)
				ok = false
			}
			if !ok {
				break
			}
		}
		if !ok {
			continue
		}
		plugins, pok := t.resolvePlugins(ref, kc.Namespace, splitList(kc.Annotations[annPrefix+"plugins"]))
		if !pok {
			continue
		}
		for _, k := range claims {
			keys[k] = ref
		}
		if kc.Username != "" {
			users[kc.Username] = ref
		}
		t.res.setOrigin(kindConsumers, len(t.res.Config.Consumers), ref)
		t.res.Config.Consumers = append(t.res.Config.Consumers, c)
		t.programmed[ref] = true
		for _, pu := range plugins {
			p := t.plugin(pu)
			p.Consumer = cmp.Or(kc.Username, kc.CustomID)
			t.addPlugin(p, pu.ref)
		}
	}
}

func (t *translator) finish() {
	for r := range t.programmed {
		t.res.Programmed = append(t.res.Programmed, r)
	}
	cmpRef := func(a, b Ref) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	}
	slices.SortFunc(t.res.Programmed, cmpRef)
	slices.SortStableFunc(t.res.Failures, func(a, b Failure) int {
		return cmp.Or(cmpRef(a.Object, b.Object), strings.Compare(a.Field, b.Field), strings.Compare(a.Message, b.Message))
	})
	t.res.Failures = slices.Compact(t.res.Failures)
}

// yamlOrJSON decodes a Secret value holding JSON or YAML.
func yamlOrJSON(b []byte, out any) error { return yaml.Unmarshal(b, out) }
