package abi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Version is a proxy-wasm ABI version. The zero value is VersionUnknown.
// Known versions are ordered, so v >= V0_2_0 means "0.2.0 or later".
type Version uint8

// ABI versions.
const (
	VersionUnknown Version = 0
	V0_1_0         Version = 1
	V0_2_0         Version = 2
	V0_2_1         Version = 3
)

// ABIVersionExportPrefix starts the name of the marker function a module
// exports to declare its ABI version, e.g. "proxy_abi_version_0_2_1".
const ABIVersionExportPrefix = "proxy_abi_version_"

// Versions lists the supported versions, oldest first.
var Versions = []Version{V0_1_0, V0_2_0, V0_2_1}

// String returns "0.1.0", "0.2.0", "0.2.1" or "unknown".
func (v Version) String() string {
	switch v {
	case V0_1_0:
		return "0.1.0"
	case V0_2_0:
		return "0.2.0"
	case V0_2_1:
		return "0.2.1"
	}
	return "unknown"
}

// MarkerExport returns the marker export name for v, e.g.
// "proxy_abi_version_0_2_1", or "" for VersionUnknown.
func (v Version) MarkerExport() string {
	switch v {
	case V0_1_0:
		return ExportABIVersion0_1_0
	case V0_2_0:
		return ExportABIVersion0_2_0
	case V0_2_1:
		return ExportABIVersion0_2_1
	}
	return ""
}

// Errors returned by DetectVersion, wrapped with details; test with errors.Is.
var (
	// ErrNoABIVersion: the module exports no proxy_abi_version_* marker.
	// cpp-host refuses such modules ("Missing or unknown Proxy-Wasm ABI
	// version"), and so does Weir.
	ErrNoABIVersion = errors.New("abi: module exports no proxy_abi_version_* marker")
	// ErrUnknownABIVersion: the only marker names a version this package
	// does not know (e.g. proxy_abi_version_0_3_0).
	ErrUnknownABIVersion = errors.New("abi: unsupported proxy-wasm ABI version")
	// ErrMultipleABIVersions: the module exports more than one distinct marker.
	ErrMultipleABIVersions = errors.New("abi: module exports more than one proxy_abi_version_* marker")
)

// DetectVersion picks the ABI version from a module's export names, as
// cpp-host does before linking. Exactly one distinct proxy_abi_version_*
// export must be present (duplicates of the same name are tolerated). The
// error names the offending exports.
func DetectVersion(exportNames []string) (Version, error) {
	var found string
	var multiple []string
	for _, name := range exportNames {
		if !strings.HasPrefix(name, ABIVersionExportPrefix) || name == found {
			continue
		}
		if found == "" {
			found = name
			continue
		}
		if multiple == nil {
			multiple = []string{found}
		}
		if !slices.Contains(multiple, name) {
			multiple = append(multiple, name)
		}
	}
	switch {
	case found == "":
		return VersionUnknown, ErrNoABIVersion
	case multiple != nil:
		return VersionUnknown, fmt.Errorf("%w: %q", ErrMultipleABIVersions, multiple)
	}
	for _, v := range Versions {
		if v.MarkerExport() == found {
			return v, nil
		}
	}
	return VersionUnknown, fmt.Errorf("%w: module exports %q; supported: %s, %s, %s",
		ErrUnknownABIVersion, found, ExportABIVersion0_2_1, ExportABIVersion0_2_0, ExportABIVersion0_1_0)
}
