// Command init is the guest init the linux driver's tests build statically; overcast itself provides the
// same as `overcast guest-init`.
package main

import (
	"os"

	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
)

func main() { os.Exit(guestinit.Main(os.Args[1:])) }
