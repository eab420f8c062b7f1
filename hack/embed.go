// Package hack carries the scripts the binary needs at run time:
// testenv.sh starts the kube-apiserver and etcd that `palisade lab up
// --apiserver` runs the lab on.
package hack

import _ "embed"

// TestEnv is hack/testenv.sh.
//
//go:embed testenv.sh
var TestEnv []byte

// CNI is hack/cni.sh.
//
//go:embed cni.sh
var CNI []byte
