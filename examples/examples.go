// Package examples carries the tutorials' manifests into the binary, so
// that `palisade demo` runs tutorial 01 wherever the binary is.
package examples

import "embed"

// Tutorial01 holds examples/01-restricting-network-connectivity/*.yaml.
//
//go:embed 01-restricting-network-connectivity/*.yaml
var Tutorial01 embed.FS

// Tutorial01Dir is the folder of tutorial 01 inside Tutorial01.
const Tutorial01Dir = "01-restricting-network-connectivity"
