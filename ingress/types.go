package ingress

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The Kong CRDs Weir reads (group configuration.konghq.com). The types are
// plain structs decoded from the informers' unstructured objects with
// [FromUnstructured]: they are never registered in a scheme or written
// back whole (status goes through patches), so they need no generated
// DeepCopy code. See docs/RATIONALE.md "Why unstructured informers for
// Kong's CRDs?".

// Group is the API group of Kong's CRDs.
const Group = "configuration.konghq.com"

// Resources of Kong's CRDs that Weir watches.
var (
	KongPluginGVR         = schema.GroupVersionResource{Group: Group, Version: "v1", Resource: "kongplugins"}
	KongClusterPluginGVR  = schema.GroupVersionResource{Group: Group, Version: "v1", Resource: "kongclusterplugins"}
	KongConsumerGVR       = schema.GroupVersionResource{Group: Group, Version: "v1", Resource: "kongconsumers"}
	KongUpstreamPolicyGVR = schema.GroupVersionResource{Group: Group, Version: "v1beta1", Resource: "kongupstreampolicies"}
)

// SecretKeyRef names a key of a Secret. Namespace is only used by
// KongClusterPlugin.
type SecretKeyRef struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Namespace string `json:"namespace,omitempty"`
}

// ConfigSource is KongPlugin.configFrom.
type ConfigSource struct {
	SecretKeyRef SecretKeyRef `json:"secretKeyRef"`
}

// ConfigPatch is one KongPlugin.configPatches entry: a JSON-Patch "add"
// at Path whose value is read from a Secret key.
type ConfigPatch struct {
	Path      string       `json:"path"`
	ValueFrom ConfigSource `json:"valueFrom"`
}

// KongPlugin is configuration.konghq.com/v1 KongPlugin (fields at the top
// level, no spec). KongClusterPlugin has the same shape.
type KongPlugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Plugin        string          `json:"plugin"`
	Config        json.RawMessage `json:"config,omitempty"`
	ConfigFrom    *ConfigSource   `json:"configFrom,omitempty"`
	ConfigPatches []ConfigPatch   `json:"configPatches,omitempty"`
	Disabled      bool            `json:"disabled,omitempty"`
	Protocols     []string        `json:"protocols,omitempty"`
	RunOn         string          `json:"run_on,omitempty"`
	InstanceName  string          `json:"instance_name,omitempty"`
	Ordering      json.RawMessage `json:"ordering,omitempty"`
	ConsumerRef   string          `json:"consumerRef,omitempty"`

	Status ConditionsStatus `json:"status,omitempty"`
}

// ConditionsStatus is the status of KongPlugin, KongClusterPlugin and
// KongConsumer.
type ConditionsStatus struct {
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// KongConsumer is configuration.konghq.com/v1 KongConsumer.
type KongConsumer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Username       string   `json:"username,omitempty"`
	CustomID       string   `json:"custom_id,omitempty"`
	Credentials    []string `json:"credentials,omitempty"`
	ConsumerGroups []string `json:"consumerGroups,omitempty"`

	Status ConditionsStatus `json:"status,omitempty"`
}

// KongUpstreamPolicy is configuration.konghq.com/v1beta1 KongUpstreamPolicy.
type KongUpstreamPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec KongUpstreamPolicySpec `json:"spec"`
}

// KongUpstreamPolicySpec is the spec of a KongUpstreamPolicy.
type KongUpstreamPolicySpec struct {
	Algorithm      string            `json:"algorithm,omitempty"`
	Slots          *int              `json:"slots,omitempty"`
	HashOn         *KongUpstreamHash `json:"hashOn,omitempty"`
	HashOnFallback *KongUpstreamHash `json:"hashOnFallback,omitempty"`
	StickySessions *json.RawMessage  `json:"stickySessions,omitempty"`
	Healthchecks   *KongHealthchecks `json:"healthchecks,omitempty"`
}

// KongUpstreamHash is spec.hashOn / spec.hashOnFallback: one of its
// fields is set.
type KongUpstreamHash struct {
	Input      string `json:"input,omitempty"`
	Header     string `json:"header,omitempty"`
	Cookie     string `json:"cookie,omitempty"`
	CookiePath string `json:"cookiePath,omitempty"`
	QueryArg   string `json:"queryArg,omitempty"`
	URICapture string `json:"uriCapture,omitempty"`
}

// KongHealthchecks is spec.healthchecks.
type KongHealthchecks struct {
	Threshold *int                `json:"threshold,omitempty"`
	Active    *KongActiveHealthc  `json:"active,omitempty"`
	Passive   *KongPassiveHealthc `json:"passive,omitempty"`
}

// KongActiveHealthc is spec.healthchecks.active.
type KongActiveHealthc struct {
	Type                   string              `json:"type,omitempty"`
	Concurrency            *int                `json:"concurrency,omitempty"`
	HTTPPath               string              `json:"httpPath,omitempty"`
	HTTPSSNI               string              `json:"httpsSni,omitempty"`
	HTTPSVerifyCertificate *bool               `json:"httpsVerifyCertificate,omitempty"`
	Timeout                *int                `json:"timeout,omitempty"`
	Headers                map[string][]string `json:"headers,omitempty"`
	Healthy                *KongHealthy        `json:"healthy,omitempty"`
	Unhealthy              *KongUnhealthy      `json:"unhealthy,omitempty"`
}

// KongPassiveHealthc is spec.healthchecks.passive.
type KongPassiveHealthc struct {
	Type      string         `json:"type,omitempty"`
	Healthy   *KongHealthy   `json:"healthy,omitempty"`
	Unhealthy *KongUnhealthy `json:"unhealthy,omitempty"`
}

// KongHealthy is a healthy block (interval only for active checks).
type KongHealthy struct {
	Interval     *int  `json:"interval,omitempty"`
	Successes    *int  `json:"successes,omitempty"`
	HTTPStatuses []int `json:"httpStatuses,omitempty"`
}

// KongUnhealthy is an unhealthy block (interval only for active checks).
type KongUnhealthy struct {
	Interval     *int  `json:"interval,omitempty"`
	HTTPFailures *int  `json:"httpFailures,omitempty"`
	TCPFailures  *int  `json:"tcpFailures,omitempty"`
	Timeouts     *int  `json:"timeouts,omitempty"`
	HTTPStatuses []int `json:"httpStatuses,omitempty"`
}

// FromUnstructured decodes an informer's unstructured object into one of
// the types above (out must be a pointer). It goes through JSON so that
// free-form fields (config, ordering) keep their exact JSON.
func FromUnstructured(u *unstructured.Unstructured, out any) error {
	b, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
