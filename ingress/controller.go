package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/weirproxy/weir/host"
	"github.com/weirproxy/weir/host/config"
)

// ControllerOptions configure a Controller.
type ControllerOptions struct {
	// Kube is the API server client configuration.
	Kube *rest.Config
	// IngressClass is the IngressClass name Weir serves (default "weir").
	IngressClass string
	// WatchNamespace limits the namespaced objects watched to one
	// namespace ("" = all).
	WatchNamespace string
	// PublishService ("namespace/name") is the Service whose addresses
	// are written to Ingress status; PublishStatusAddress (IPs or host
	// names) is used instead when set.
	PublishService       string
	PublishStatusAddress []string
	// Apply hands a configuration (JSON) to the proxy; it is
	// host.Server.Apply, the path a file reload takes.
	Apply func(raw []byte) error
	// ApplyConfig, when set, is used instead of Apply and skips the JSON
	// round trip (host.Server.ApplyConfig: same validation, build and
	// atomic swap).
	ApplyConfig func(*config.Config) error
	// ApplyConfigDelta, when set, is used instead of ApplyConfig once a
	// configuration has been applied: it is told which routes, services
	// and upstreams changed since (host.Server.ApplyConfigDelta), so the
	// proxy checks and rebuilds only those.
	ApplyConfigDelta func(*config.Config, host.ConfigDelta) error
	// Debounce is the least time between the ends of two syncs (default
	// 10 ms): a burst of changes is coalesced, and changes that arrive
	// while a sync runs are folded into the next one.
	Debounce time.Duration
	// LeaseNamespace and LeaseName locate the Lease of the status-writer
	// election (defaults: $POD_NAMESPACE or "default", and
	// "weir-ingress-<class>"). Identity defaults to hostname_pid.
	LeaseNamespace, LeaseName, Identity string
	// LeaseDuration (default 15 s) bounds how long a dead leader blocks
	// status writes.
	LeaseDuration time.Duration
	Logger        *slog.Logger

	// Modules are the weir.modules settings (insecure registries, cache
	// directory, pull policy, ...) put into every translated
	// configuration.
	Modules config.Modules
	// PullSecrets ("namespace/name") are kubernetes.io/dockerconfigjson
	// Secrets, in a watched namespace, whose credentials are used for
	// oci:// plugin modules; they are handed to SetPullSecrets
	// (host.Server.SetPullSecrets) whenever they change, before the next
	// apply.
	PullSecrets    []string
	SetPullSecrets func(dockerConfigJSON ...[]byte) error
	// CheckPullSecret validates one Secret's .dockerconfigjson
	// (host.CheckPullSecret); a bad one is left out with an Event.
	CheckPullSecret func([]byte) error
	// ModuleErrors, when set, reports after each apply which plugins of
	// the applied configuration have a module that currently fails to
	// load (host.Server.PluginModuleErrors, by index into Plugins). Their
	// KongPlugins get Programmed=False, reason ModuleUnavailable.
	ModuleErrors func(*config.Config) map[int]string
	// ModuleRetry is how long after an apply that left modules
	// unavailable the controller applies again to retry them, even if
	// nothing changed (default 30 s).
	ModuleRetry time.Duration
}

// Controller watches the cluster and keeps the proxy's configuration and
// the objects' status in line with it.
type Controller struct {
	opts  ControllerOptions
	log   *slog.Logger
	cs    kubernetes.Interface
	dyn   dynamic.Interface
	rec   record.EventRecorder
	bcast record.EventBroadcaster

	factory    informers.SharedInformerFactory
	secretFac  informers.SharedInformerFactory
	sliceFac   informers.SharedInformerFactory
	clusterFac informers.SharedInformerFactory
	dynFactory dynamicinformer.DynamicSharedInformerFactory
	clusterDyn dynamicinformer.DynamicSharedInformerFactory
	crds       map[schema.GroupVersionResource]cache.GenericLister
	synced     []cache.InformerSynced

	trigger  chan struct{}
	leader   atomic.Bool
	applied  chan struct{} // closed after the first successful apply
	once     sync.Once
	lastRaw  [32]byte           // fingerprint of the input last applied
	lastTLS  map[string]TLSPair // TLS Secrets' pairs last applied (LastGoodTLS)
	lastRes  *Result
	lastExcl string
	seenFail map[string]bool
	// rejected remembers objects the proxy rejected, with the
	// resourceVersion seen then: they stay left out (without asking the
	// proxy again) until they change.
	rejected map[Ref]rejection
	written  map[types.UID]Ref // Ingresses whose status we set

	statusKick chan struct{}

	mu       sync.Mutex
	stats    Stats
	pending  *statusWork
	lastWork *statusWork // the status writer's last work
	recheck  bool        // an Ingress status changed: compare again

	pullSum    [32]byte    // fingerprint of the pull secrets last set
	pullWarned string      // the pull-secret problem last logged
	modRetry   atomic.Bool // a module retry is scheduled
	force      atomic.Bool // the next sync applies even when unchanged
	modFailed  map[Ref]bool

	inc     *Incremental   // translation memo
	stamps  stamps         // parts of the configuration last applied
	lastCfg *config.Config // the configuration last applied (the proxy's, normalized)
	fp      inputSum       // running fingerprint of every watched object
	// decoded holds the custom resources of the last sync, decoded (sync
	// goroutine only).
	decoded map[*unstructured.Unstructured]metav1.Object
}

// rejection is an object the proxy rejected, and its version then.
type rejection struct{ reason, resourceVersion string }

// Stats counts the controller's work (read with Controller.Stats).
type Stats struct {
	Syncs, Applies, Skipped, ApplyErrors int
	LastResult                           *Result
	LastApplied                          time.Time
}

// NewController creates a controller; Run starts it.
func NewController(opts ControllerOptions) (*Controller, error) {
	if opts.Kube == nil || (opts.Apply == nil && opts.ApplyConfig == nil && opts.ApplyConfigDelta == nil) {
		return nil, errors.New("ingress: Kube and Apply (or ApplyConfig) are required")
	}
	if opts.IngressClass == "" {
		opts.IngressClass = "weir"
	}
	if opts.Debounce == 0 {
		opts.Debounce = 10 * time.Millisecond
	}
	if opts.LeaseNamespace == "" {
		opts.LeaseNamespace = os.Getenv("POD_NAMESPACE")
		if opts.LeaseNamespace == "" {
			opts.LeaseNamespace = "default"
		}
	}
	if opts.LeaseName == "" {
		opts.LeaseName = "weir-ingress-" + opts.IngressClass
	}
	if opts.Identity == "" {
		h, _ := os.Hostname()
		opts.Identity = h + "_" + strconv.Itoa(os.Getpid())
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = 15 * time.Second
	}
	if opts.ModuleRetry == 0 {
		opts.ModuleRetry = 30 * time.Second
	}
	for _, ps := range opts.PullSecrets {
		if ns, name, ok := strings.Cut(ps, "/"); !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("ingress: --plugin-pull-secret %q: want namespace/name", ps)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PublishService != "" && !strings.Contains(opts.PublishService, "/") {
		return nil, fmt.Errorf("ingress: --publish-service %q: want namespace/name", opts.PublishService)
	}
	cfg := rest.CopyConfig(opts.Kube)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "weir-ingress"
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		opts: opts, log: opts.Logger, cs: cs, dyn: dyn,
		trigger: make(chan struct{}, 1), statusKick: make(chan struct{}, 1), applied: make(chan struct{}),
		crds: map[schema.GroupVersionResource]cache.GenericLister{}, seenFail: map[string]bool{}, rejected: map[Ref]rejection{}, written: map[types.UID]Ref{},
		modFailed: map[Ref]bool{}, inc: NewIncremental(),
	}
	c.bcast = record.NewBroadcaster()
	c.rec = c.bcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "weir-ingress"})
	return c, nil
}

// Applied is closed once the first configuration built from the cluster
// has been applied.
func (c *Controller) Applied() <-chan struct{} { return c.applied }

// Stats returns a copy of the controller's counters.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// IsLeader reports whether this replica writes status.
func (c *Controller) IsLeader() bool { return c.leader.Load() }

func (c *Controller) kick() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// handler keeps the input fingerprint up to date (kind names the
// informer's objects) and triggers a sync.
func (c *Controller) handler(kind string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			c.fp.add(kind, o, 1)
			c.kick()
		},
		UpdateFunc: func(old, o any) {
			if statusOnly(old, o) {
				// Ingress status is no input to the translation (and
				// the status writer's own updates come back this way):
				// only check that the status is still what we wrote.
				c.recheckStatus()
				return
			}
			c.fp.add(kind, old, -1)
			c.fp.add(kind, o, 1)
			c.kick()
		},
		DeleteFunc: func(o any) {
			c.fp.add(kind, o, -1)
			c.kick()
		},
	}
}

// Run watches until ctx ends. It returns an error if the caches cannot
// sync.
func (c *Controller) Run(ctx context.Context) error {
	c.bcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.cs.CoreV1().Events("")})
	defer c.bcast.Shutdown()

	nsOpt := informers.WithNamespace(c.opts.WatchNamespace)
	c.factory = informers.NewSharedInformerFactoryWithOptions(c.cs, 0, nsOpt)
	// Helm keeps every release in a Secret (hundreds of KiB each, KIC
	// #6576); none is ever a TLS, credential or plugin-config Secret.
	c.secretFac = informers.NewSharedInformerFactoryWithOptions(c.cs, 0, nsOpt, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "type!=helm.sh/release.v1"
	}))
	// Only slices that belong to a Service.
	c.sliceFac = informers.NewSharedInformerFactoryWithOptions(c.cs, 0, nsOpt, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = discoveryv1.LabelServiceName
	}))
	c.clusterFac = informers.NewSharedInformerFactory(c.cs, 0)
	for _, ki := range []struct {
		kind string
		inf  cache.SharedIndexInformer
	}{
		{"Ingress", c.factory.Networking().V1().Ingresses().Informer()},
		{"Service", c.factory.Core().V1().Services().Informer()},
		{"EndpointSlice", c.sliceFac.Discovery().V1().EndpointSlices().Informer()},
		{"Secret", c.secretFac.Core().V1().Secrets().Informer()},
		{"IngressClass", c.clusterFac.Networking().V1().IngressClasses().Informer()},
	} {
		if _, err := ki.inf.AddEventHandler(c.handler(ki.kind)); err != nil {
			return err
		}
		c.synced = append(c.synced, ki.inf.HasSynced)
	}
	c.dynFactory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.dyn, 0, c.opts.WatchNamespace, nil)
	c.clusterDyn = dynamicinformer.NewDynamicSharedInformerFactory(c.dyn, 0)
	for _, gvr := range []schema.GroupVersionResource{KongPluginGVR, KongClusterPluginGVR, KongConsumerGVR, KongUpstreamPolicyGVR} {
		if !c.served(gvr) {
			c.log.Warn("CRD not installed; its objects are ignored (kubectl apply -f deploy/crds)", "resource", gvr.Resource+"."+gvr.Group)
			continue
		}
		f := c.dynFactory
		if gvr == KongClusterPluginGVR {
			f = c.clusterDyn
		}
		gi := f.ForResource(gvr)
		if _, err := gi.Informer().AddEventHandler(c.handler(gvr.Resource)); err != nil {
			return err
		}
		c.synced = append(c.synced, gi.Informer().HasSynced)
		c.crds[gvr] = gi.Lister()
	}
	c.factory.Start(ctx.Done())
	c.secretFac.Start(ctx.Done())
	c.sliceFac.Start(ctx.Done())
	c.clusterFac.Start(ctx.Done())
	c.dynFactory.Start(ctx.Done())
	c.clusterDyn.Start(ctx.Done())
	defer c.factory.Shutdown()
	defer c.secretFac.Shutdown()
	defer c.sliceFac.Shutdown()
	defer c.clusterFac.Shutdown()
	defer c.dynFactory.Shutdown()
	defer c.clusterDyn.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return errors.New("ingress: informer caches did not sync")
	}
	c.log.Info("caches synced; translating", "class", c.opts.IngressClass, "namespace", c.opts.WatchNamespace)
	go c.elect(ctx)
	go c.statusLoop(ctx)
	c.kick()
	var lastSync time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.trigger:
		}
		// Debounce: syncs are at least Debounce apart, so a burst of
		// changes settles into few translations (changes that arrive
		// during a sync are folded into the next one); a change after a
		// quiet spell is synced at once.
		if wait := time.Until(lastSync.Add(c.opts.Debounce)); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-timer.C:
			}
		}
		c.sync(ctx)
		lastSync = time.Now()
	}
}

// served reports whether the API server serves gvr (the CRD is installed).
func (c *Controller) served(gvr schema.GroupVersionResource) bool {
	rl, err := c.cs.Discovery().ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if err != nil {
		return false
	}
	for _, r := range rl.APIResources {
		if r.Name == gvr.Resource {
			return true
		}
	}
	return false
}

func (c *Controller) elect(ctx context.Context) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: c.opts.LeaseNamespace, Name: c.opts.LeaseName},
		Client:     c.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.opts.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   c.opts.LeaseDuration,
			RenewDeadline:   c.opts.LeaseDuration * 2 / 3,
			RetryPeriod:     c.opts.LeaseDuration / 7,
			ReleaseOnCancel: true,
			Name:            c.opts.LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) {
					c.log.Info("elected: this replica writes Ingress status", "lease", c.opts.LeaseNamespace+"/"+c.opts.LeaseName)
					c.leader.Store(true)
					c.kick()
				},
				OnStoppedLeading: func() {
					c.leader.Store(false)
					c.log.Info("lost the lease: no longer writing status")
				},
			},
		})
		if err != nil {
			c.log.Error("leader election", "err", err)
			return
		}
		le.Run(ctx)
	}
}

// snapshot reads every watched object from the informer caches.
func (c *Controller) snapshot() *Objects {
	objs := &Objects{}
	everything := labels.Everything()
	objs.IngressClasses, _ = c.clusterFac.Networking().V1().IngressClasses().Lister().List(everything)
	objs.Ingresses, _ = c.factory.Networking().V1().Ingresses().Lister().List(everything)
	objs.Services, _ = c.factory.Core().V1().Services().Lister().List(everything)
	objs.EndpointSlices, _ = c.sliceFac.Discovery().V1().EndpointSlices().Lister().List(everything)
	objs.Secrets, _ = c.secretFac.Core().V1().Secrets().Lister().List(everything)
	// Custom resources are decoded once per object version: the informer
	// replaces an object when it changes, so the same pointer is the same
	// version (and the translator's memo sees the same decoded object).
	decoded := make(map[*unstructured.Unstructured]metav1.Object, len(c.decoded))
	decode := func(gvr schema.GroupVersionResource, kind string, newObj func() metav1.Object, add func(metav1.Object)) {
		l, ok := c.crds[gvr]
		if !ok {
			return
		}
		items, _ := l.List(everything)
		for _, it := range items {
			u, ok := it.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			o, ok := c.decoded[u]
			if !ok {
				o = newObj()
				if err := FromUnstructured(u, o); err != nil {
					c.log.Warn("cannot decode object; ignored", "kind", kind, "namespace", u.GetNamespace(), "name", u.GetName(), "err", err)
					continue
				}
			}
			decoded[u] = o
			add(o)
		}
	}
	decode(KongPluginGVR, "KongPlugin", func() metav1.Object { return &KongPlugin{} },
		func(o metav1.Object) { objs.KongPlugins = append(objs.KongPlugins, o.(*KongPlugin)) })
	decode(KongClusterPluginGVR, "KongClusterPlugin", func() metav1.Object { return &KongPlugin{} },
		func(o metav1.Object) { objs.KongClusterPlugins = append(objs.KongClusterPlugins, o.(*KongPlugin)) })
	decode(KongConsumerGVR, "KongConsumer", func() metav1.Object { return &KongConsumer{} },
		func(o metav1.Object) { objs.KongConsumers = append(objs.KongConsumers, o.(*KongConsumer)) })
	decode(KongUpstreamPolicyGVR, "KongUpstreamPolicy", func() metav1.Object { return &KongUpstreamPolicy{} },
		func(o metav1.Object) {
			objs.KongUpstreamPolicies = append(objs.KongUpstreamPolicies, o.(*KongUpstreamPolicy))
		})
	c.decoded = decoded
	return objs
}

// entityRe finds entity locations ("plugins[3]") in the runtime's errors.
var entityRe = regexp.MustCompile(`\b(routes|services|upstreams|targets|plugins|consumers|certificates)\[(\d+)\]`)

// sync translates the cluster and applies the result. When the proxy
// rejects the configuration, the objects its errors point at are left
// out and the rest is applied (at most a few rounds); if that fails too
// the running configuration keeps serving.
func (c *Controller) sync(ctx context.Context) {
	start := time.Now()
	gcStart := gcCycles()
	// The fingerprint is read before the objects: an informer updates its
	// cache before it calls the handler that updates the fingerprint, so
	// the objects are at least as new as the fingerprint says (a change in
	// between is caught by the sync its handler triggers).
	input := c.fp.sum()
	objs := c.snapshot()
	refs := c.objectRef
	excluded := map[Ref]string{}
	for ref, rj := range c.rejected {
		if or, ok := refs(ref); ok && or.ResourceVersion == rj.resourceVersion {
			excluded[ref] = rj.reason
		} else {
			delete(c.rejected, ref)
		}
	}
	c.updatePullSecrets()
	if c.force.Swap(false) {
		c.lastRaw = [32]byte{} // retry unavailable modules
	}
	var res *Result
	var applyErr error
	for round := 0; round < 8; round++ {
		// The translation is a pure function of the objects and the
		// exclusions: same fingerprint, same configuration, nothing to do.
		sum := fingerprint(input, excluded)
		if sum == c.lastRaw {
			res = c.lastRes
			c.mu.Lock()
			c.stats.Syncs++
			c.stats.Skipped++
			c.stats.LastResult = res
			c.mu.Unlock()
			applyErr = nil
			break
		}
		tTranslate := time.Now()
		res = c.inc.Translate(objs, Options{IngressClass: c.opts.IngressClass, Excluded: excluded, LastGoodTLS: c.lastTLS})
		tApply := time.Now()
		res.Config.Weir.Modules = c.opts.Modules
		var changedRoutes, changedServices map[string]bool
		switch {
		case c.opts.ApplyConfigDelta != nil && c.lastCfg != nil:
			d := host.ConfigDelta{Base: c.lastCfg, Hash: sum}
			d.Routes, d.Services, d.Upstreams = c.stamps.changed(res)
			changedRoutes, changedServices = d.Routes, d.Services
			applyErr = c.opts.ApplyConfigDelta(res.Config, d)
		case c.opts.ApplyConfigDelta != nil:
			applyErr = c.opts.ApplyConfigDelta(res.Config, host.ConfigDelta{Hash: sum})
		case c.opts.ApplyConfig != nil:
			applyErr = c.opts.ApplyConfig(res.Config)
		default:
			raw, err := json.Marshal(res.Config)
			if err != nil {
				c.log.Error("cannot encode the translated config", "err", err)
				return
			}
			applyErr = c.opts.Apply(raw)
		}
		if applyErr == nil {
			if changedRoutes == nil {
				changedRoutes, changedServices, _ = (&stamps{}).changed(res) // everything
			}
			c.stamps.record(res, changedRoutes, changedServices)
			c.lastCfg = res.Config
			c.lastRaw = sum
			c.lastRes = res
			c.lastTLS = res.TLS
			c.mu.Lock()
			c.stats.Syncs++
			c.stats.Applies++
			c.stats.LastResult = res
			c.stats.LastApplied = time.Now()
			c.mu.Unlock()
			hits, misses := c.inc.Reused()
			c.log.Info("configuration applied", "routes", len(res.Config.Routes), "failures", len(res.Failures), "took", time.Since(start).Round(time.Millisecond),
				"read", tTranslate.Sub(start).Round(time.Millisecond), "translate", tApply.Sub(tTranslate).Round(time.Millisecond),
				"apply", time.Since(tApply).Round(time.Millisecond), "parts_reused", hits, "parts_computed", misses,
				"gc_cycles", gcCycles()-gcStart)
			break
		}
		c.mu.Lock()
		c.stats.ApplyErrors++
		c.mu.Unlock()
		grew := false
		for _, line := range strings.Split(applyErr.Error(), "\n") {
			for _, m := range entityRe.FindAllString(line, -1) {
				if ref, ok := res.Origin(m); ok {
					if _, dup := excluded[ref]; !dup {
						reason := "rejected by the proxy: " + strings.TrimSpace(line)
						excluded[ref] = reason
						if or, ok := refs(ref); ok {
							c.rejected[ref] = rejection{reason, or.ResourceVersion}
						}
						grew = true
					}
				}
			}
		}
		if !grew {
			break
		}
	}
	if applyErr != nil {
		c.log.Error("the proxy rejected the translated configuration; the last good one keeps serving", "err", applyErr)
		return
	}
	c.once.Do(func() {
		close(c.applied)
		// The cold sync's full translation and build leave a few hundred
		// MiB of garbage at 10,000 Ingresses; give it back to the OS now
		// rather than let the pod's RSS sit at that peak.
		go debug.FreeOSMemory()
	})
	modErr := c.moduleErrors(res)
	// Events, conditions and Ingress status are written by another
	// goroutine: thousands of status updates must not hold back the next
	// configuration.
	c.mu.Lock()
	c.pending = &statusWork{res: res, refs: refs, objs: objs, modErr: modErr}
	c.mu.Unlock()
	select {
	case c.statusKick <- struct{}{}:
	default:
	}
}

// statusWork is the latest result for the status writer.
type statusWork struct {
	res    *Result
	refs   func(Ref) (*corev1.ObjectReference, bool)
	objs   *Objects
	modErr map[Ref]string // KongPlugins whose module does not load
}

// statusLoop writes Events, conditions and Ingress status for the latest
// applied result (older ones are skipped).
func (c *Controller) statusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.statusKick:
		}
		c.mu.Lock()
		w := c.pending
		c.pending = nil
		recheck := c.recheck
		c.recheck = false
		if w != nil {
			c.lastWork = w
		} else if recheck && c.lastWork != nil {
			// Statuses changed behind our back: compare them again with
			// the last applied result.
			lw := *c.lastWork
			objs := &Objects{}
			objs.Ingresses, _ = c.factory.Networking().V1().Ingresses().Lister().List(labels.Everything())
			lw.objs = objs
			w = &lw
		}
		c.mu.Unlock()
		if w == nil {
			continue
		}
		c.report(ctx, w.res, w.refs, w.modErr)
		if c.leader.Load() {
			c.writeIngressStatus(ctx, w.res, w.objs)
		}
	}
}

// report raises an Event (and a log line) for each new failure, and sets
// the Programmed condition of KongPlugins, KongClusterPlugins and
// KongConsumers.
func (c *Controller) report(ctx context.Context, res *Result, refs func(Ref) (*corev1.ObjectReference, bool), modErr map[Ref]string) {
	now := map[string]bool{}
	failed := map[Ref][]Failure{}
	for _, f := range res.Failures {
		failed[f.Object] = append(failed[f.Object], f)
		k := f.String()
		now[k] = true
		if c.seenFail[k] {
			continue
		}
		c.log.Warn("translation problem", "object", f.Object.String(), "field", f.Field, "reason", f.Reason, "message", f.Message)
		if or, ok := refs(f.Object); ok {
			msg := f.Message
			if f.Field != "" {
				msg = f.Field + ": " + msg
			}
			c.rec.Event(or, corev1.EventTypeWarning, f.Reason, msg)
		}
	}
	for ref, msg := range modErr {
		k := "module\x00" + ref.String() + "\x00" + msg
		now[k] = true
		if c.seenFail[k] {
			continue
		}
		c.log.Warn("plugin module unavailable", "object", ref.String(), "message", msg)
		if or, ok := refs(ref); ok {
			c.rec.Event(or, corev1.EventTypeWarning, ReasonModuleUnavailable, truncate(msg, 1024))
		}
	}
	for ref := range c.modFailed {
		if _, still := modErr[ref]; still {
			continue
		}
		delete(c.modFailed, ref)
		if or, ok := refs(ref); ok {
			c.log.Info("plugin module loaded", "object", ref.String())
			c.rec.Event(or, corev1.EventTypeNormal, ReasonModuleLoaded, "the plugin's module loaded")
		}
	}
	for ref := range modErr {
		c.modFailed[ref] = true
	}
	c.seenFail = now

	set := func(ref Ref, gvr schema.GroupVersionResource, status metav1.ConditionStatus, reason, msg string) {
		l, ok := c.crds[gvr]
		if !ok {
			return
		}
		var obj runtime.Object
		var err error
		if ref.Namespace == "" {
			obj, err = l.Get(ref.Name)
		} else {
			obj, err = l.ByNamespace(ref.Namespace).Get(ref.Name)
		}
		if err != nil {
			return
		}
		u := obj.(*unstructured.Unstructured)
		var st ConditionsStatus
		if raw, ok := u.Object["status"]; ok {
			b, _ := json.Marshal(raw)
			_ = json.Unmarshal(b, &st)
		}
		cond := metav1.Condition{Type: "Programmed", Status: status, Reason: reason, Message: msg, ObservedGeneration: u.GetGeneration()}
		if old := meta.FindStatusCondition(st.Conditions, "Programmed"); old != nil && old.Status == cond.Status &&
			old.Reason == cond.Reason && old.Message == cond.Message && old.ObservedGeneration == cond.ObservedGeneration {
			return
		}
		meta.SetStatusCondition(&st.Conditions, cond)
		u = u.DeepCopy()
		b, _ := json.Marshal(st)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		u.Object["status"] = m
		var rc dynamic.ResourceInterface = c.dyn.Resource(gvr)
		if ref.Namespace != "" {
			rc = c.dyn.Resource(gvr).Namespace(ref.Namespace)
		}
		if _, err := rc.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				c.kick() // the cache will catch up; try again
				return
			}
			c.log.Warn("cannot update status", "object", ref.String(), "err", err)
		}
	}
	gvrOf := map[string]schema.GroupVersionResource{"KongPlugin": KongPluginGVR, "KongClusterPlugin": KongClusterPluginGVR, "KongConsumer": KongConsumerGVR}
	for _, ref := range res.Programmed {
		if _, bad := failed[ref]; bad {
			continue
		}
		if msg, bad := modErr[ref]; bad {
			set(ref, gvrOf[ref.Kind], metav1.ConditionFalse, ReasonModuleUnavailable, truncate(msg, 32000))
			continue
		}
		set(ref, gvrOf[ref.Kind], metav1.ConditionTrue, "Programmed", "Programmed into the proxy")
	}
	for ref, fs := range failed {
		gvr, ok := gvrOf[ref.Kind]
		if !ok {
			continue
		}
		msgs := make([]string, 0, len(fs))
		for _, f := range fs {
			m := f.Message
			if f.Field != "" {
				m = f.Field + ": " + m
			}
			msgs = append(msgs, m)
		}
		set(ref, gvr, metav1.ConditionFalse, "Invalid", truncate(strings.Join(msgs, "; "), 32000))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// addresses returns what to publish in Ingress status.
func (c *Controller) addresses() []netv1.IngressLoadBalancerIngress {
	var out []netv1.IngressLoadBalancerIngress
	addr := func(a string) {
		if a == "" {
			return
		}
		if net.ParseIP(a) != nil {
			out = append(out, netv1.IngressLoadBalancerIngress{IP: a})
		} else {
			out = append(out, netv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	if len(c.opts.PublishStatusAddress) > 0 {
		for _, a := range c.opts.PublishStatusAddress {
			addr(strings.TrimSpace(a))
		}
		return out
	}
	if c.opts.PublishService == "" {
		return nil
	}
	ns, name, _ := strings.Cut(c.opts.PublishService, "/")
	svc, err := c.factory.Core().V1().Services().Lister().Services(ns).Get(name)
	if err != nil {
		// Not in the watched namespace, or missing: ask the API server.
		svc, err = c.cs.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			c.log.Warn("publish service not found", "service", c.opts.PublishService, "err", err)
			return nil
		}
	}
	for _, lb := range svc.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			addr(lb.IP)
		} else {
			addr(lb.Hostname)
		}
	}
	if len(out) == 0 {
		for _, ip := range svc.Spec.ExternalIPs {
			addr(ip)
		}
	}
	if len(out) == 0 && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		addr(svc.Spec.ClusterIP)
	}
	return out
}

// writeIngressStatus sets status.loadBalancer on Weir's Ingresses and
// clears it on Ingresses that left Weir's class. Other Ingresses are
// never touched.
func (c *Controller) writeIngressStatus(ctx context.Context, res *Result, objs *Objects) {
	want := c.addresses()
	ours := make(map[Ref]bool, res.ingresses.len())
	res.ingresses.each(0, res.ingresses.len(), func(_ int, r Ref) { ours[r] = true })
	for _, ing := range objs.Ingresses {
		ref := Ref{"Ingress", ing.Namespace, ing.Name}
		var target []netv1.IngressLoadBalancerIngress
		switch {
		case ours[ref]:
			target = want
		case c.written[ing.UID] == ref:
			target = nil // left our class: remove what we wrote
		default:
			continue
		}
		if slices.EqualFunc(ing.Status.LoadBalancer.Ingress, target, func(a, b netv1.IngressLoadBalancerIngress) bool {
			return a.IP == b.IP && a.Hostname == b.Hostname
		}) {
			if ours[ref] {
				c.written[ing.UID] = ref
			} else {
				delete(c.written, ing.UID)
			}
			continue
		}
		cp := ing.DeepCopy()
		cp.Status.LoadBalancer.Ingress = target
		if _, err := c.cs.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				c.kick()
				continue
			}
			c.log.Warn("cannot update Ingress status", "ingress", ref.String(), "err", err)
			continue
		}
		if ours[ref] {
			c.written[ing.UID] = ref
		} else {
			delete(c.written, ing.UID)
		}
	}
}
