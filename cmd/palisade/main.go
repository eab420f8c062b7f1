// Command palisade is the one binary of Palisade: offline analysis today,
// and the lab, the data plane and the node agent as they land. All of its
// logic lives in internal/cli and the packages below it.
package main

import (
	"os"

	"github.com/palisade-net/palisade/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
