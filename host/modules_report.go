package host

import (
	"fmt"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/modules"
)

// PluginModuleErrors reports which plugins of cfg have a remote module
// (oci://, https://) that currently fails to load: by index into
// cfg.Plugins, a message with the reference, the failure and what serves
// instead (the previous module, or the fail_policy). cfg is a config
// this server applied (top-level plugins keep their index through
// Normalize). The ingress controller turns these into Programmed=False
// conditions; a plugin drops out once a load of its slot succeeds.
func (s *Server) PluginModuleErrors(cfg *config.Config) map[int]string {
	snap := s.h.Snapshot()
	m := &s.pl.src
	m.errMu.Lock()
	defer m.errMu.Unlock()
	if len(m.lastErr) == 0 {
		return nil
	}
	var out map[int]string
	for i := range cfg.Plugins {
		cp := &cfg.Plugins[i]
		if cp.Enabled != nil && !*cp.Enabled || !modules.IsRef(cp.Name) {
			continue
		}
		ref, err := modules.ParseRef(cp.Name)
		if err != nil || !ref.Remote() {
			continue
		}
		slot := slotOf(cp, ref)
		e, ok := m.lastErr[slot]
		if !ok {
			continue
		}
		instead := "fail_policy closed: its routes answer 503"
		if p := snap.PluginSlots[slot]; p != nil && p.Wasm != nil {
			instead = "the previous module keeps serving"
		} else if cp.FailPolicy == "open" {
			instead = "fail_policy open: the plugin is skipped on its routes"
		}
		if out == nil {
			out = map[int]string{}
		}
		out[i] = fmt.Sprintf("module %s could not be loaded (%s): %s", e.plugin, instead, e.err)
	}
	return out
}

// CheckPullSecret reports whether dockerConfigJSON (the `.dockerconfigjson`
// value of a kubernetes.io/dockerconfigjson Secret) is usable by
// SetPullSecrets.
func CheckPullSecret(dockerConfigJSON []byte) error {
	_, err := modules.CredentialsFromDockerConfigJSON(dockerConfigJSON)
	return err
}
