package ingress

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Reasons of a KongPlugin's Programmed condition and Events about its
// module (oci:// or https:// plugin references).
const (
	// ReasonModuleUnavailable: the plugin's module could not be fetched,
	// verified or compiled; the previous module keeps serving, or the
	// plugin's fail_policy applies.
	ReasonModuleUnavailable = "ModuleUnavailable"
	// ReasonModuleLoaded: a module that was unavailable loaded (Event).
	ReasonModuleLoaded = "ModuleLoaded"
	// ReasonInvalidPullSecret: a --plugin-pull-secret Secret is not a
	// usable kubernetes.io/dockerconfigjson Secret (Event on it).
	ReasonInvalidPullSecret = "InvalidPullSecret"
)

// moduleErrors asks the proxy which plugins of the applied configuration
// have a module that does not load, maps them to their KongPlugin or
// KongClusterPlugin, and schedules a retry while there are any.
func (c *Controller) moduleErrors(res *Result) map[Ref]string {
	if c.opts.ModuleErrors == nil || res == nil {
		return nil
	}
	byIndex := c.opts.ModuleErrors(res.Config)
	if len(byIndex) == 0 {
		return nil
	}
	out := map[Ref]string{}
	for i, msg := range byIndex {
		ref, ok := res.Origin(fmt.Sprintf("plugins[%d]", i))
		if !ok || ref.Kind != "KongPlugin" && ref.Kind != "KongClusterPlugin" {
			continue
		}
		// One KongPlugin attached to several routes fails the same way
		// on each; keep one message (the lowest index, for stability).
		if prev, dup := out[ref]; !dup || msg < prev {
			out[ref] = msg
		}
	}
	if c.modRetry.CompareAndSwap(false, true) {
		time.AfterFunc(c.opts.ModuleRetry, func() {
			c.modRetry.Store(false)
			c.force.Store(true)
			c.kick()
		})
	}
	return out
}

// updatePullSecrets reads the --plugin-pull-secret Secrets from the
// informer cache and hands their credentials to the proxy when they
// changed. A missing or invalid Secret is logged (and an invalid one gets
// an Event) and left out; the others still apply.
func (c *Controller) updatePullSecrets() {
	if len(c.opts.PullSecrets) == 0 || c.opts.SetPullSecrets == nil {
		return
	}
	lister := c.secretFac.Core().V1().Secrets().Lister()
	var data [][]byte
	var problems []string
	type bad struct {
		s   *corev1.Secret
		msg string
	}
	var bads []bad
	h := sha256.New()
	for _, ps := range c.opts.PullSecrets {
		ns, name, _ := strings.Cut(ps, "/")
		s, err := lister.Secrets(ns).Get(name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("pull secret %s not found (it must exist in a watched namespace)", ps))
			continue
		}
		b, ok := s.Data[corev1.DockerConfigJsonKey]
		if !ok {
			problems = append(problems, fmt.Sprintf("pull secret %s: no %s key (want a %s Secret)", ps, corev1.DockerConfigJsonKey, corev1.SecretTypeDockerConfigJson))
			bads = append(bads, bad{s, "no " + corev1.DockerConfigJsonKey + " key (want a " + string(corev1.SecretTypeDockerConfigJson) + " Secret)"})
			continue
		}
		if c.opts.CheckPullSecret != nil {
			if err := c.opts.CheckPullSecret(b); err != nil {
				problems = append(problems, fmt.Sprintf("pull secret %s: %v", ps, err))
				bads = append(bads, bad{s, err.Error()})
				continue
			}
		}
		data = append(data, b)
		h.Write([]byte(ps))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	if p := strings.Join(problems, "; "); p != c.pullWarned {
		c.pullWarned = p
		if p != "" {
			c.log.Warn("plugin pull secrets: some are left out", "problems", p)
		}
		for _, b := range bads {
			c.pullSecretEvent(b.s, b.msg)
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	if sum == c.pullSum {
		return
	}
	if err := c.opts.SetPullSecrets(data...); err != nil {
		c.log.Error("plugin pull secrets rejected", "err", err)
		return
	}
	c.pullSum = sum
	c.log.Info("plugin pull secrets set", "secrets", len(data))
}

func (c *Controller) pullSecretEvent(s *corev1.Secret, msg string) {
	or := &corev1.ObjectReference{Kind: "Secret", APIVersion: "v1", Namespace: s.Namespace, Name: s.Name, UID: s.UID, ResourceVersion: s.ResourceVersion}
	c.rec.Event(or, corev1.EventTypeWarning, ReasonInvalidPullSecret, msg)
}

// AnnotationFailPolicy on a KongPlugin or KongClusterPlugin sets the
// plugin's fail_policy: "closed" (default: its routes answer 503 while
// its module cannot be served) or "open" (the plugin is skipped).
const AnnotationFailPolicy = "weir.dev/fail-policy"
