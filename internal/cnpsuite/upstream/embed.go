package tests

import "embed"

// Manifests is upstream's conformance.Manifests: the base/ manifests the
// tests name.
//
//go:embed base
var Manifests embed.FS
