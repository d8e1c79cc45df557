package ingress_test

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type metaMapping struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

func mapping(m meta.RESTMapper, gk schema.GroupKind, version string) (*metaMapping, error) {
	rm, err := m.RESTMapping(gk, version)
	if err != nil {
		return nil, err
	}
	return &metaMapping{gvr: rm.Resource, namespaced: rm.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}
