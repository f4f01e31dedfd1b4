// Command init is the guest init the linux driver's tests build statically; overcast itself provides the
// same as `overcast guest-init`, and holds mount guards as `overcast mount-guard-holder` as this does.
package main

import (
	"os"

	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
	"github.com/overcast-cloud/overcast/internal/host/compute/linux"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == linux.MountGuardHolderCommand {
		os.Exit(linux.MountGuardHolderMain(os.Args[2:]))
	}
	os.Exit(guestinit.Main(os.Args[1:]))
}
