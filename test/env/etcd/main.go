// Command etcd is the etcd server, built from the pinned go.etcd.io/etcd/server/v3 module
// for tokensmith's test environment. The server module carries replace directives, so it
// cannot be installed with `go install pkg@version`; this main imports it as a dependency.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
