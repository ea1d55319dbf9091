package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/cmds/internal/bless"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// blessCmd is "warmboot bless": the running system came up.
func blessCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warmboot bless", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "the running system's root")
	pin := fs.Bool("pin", false, "keep the running entry (a warm swap's target) as the default for good, not only until the configs' default changes")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return cli.ExitUsage
	}
	if err := bless.Bless(*root, clog.New(stdout, "warmboot: bless"), bless.Options{Pin: *pin}); err != nil {
		fmt.Fprintf(stderr, "warmboot: bless: %v\n", err)
		return cli.ExitError
	}
	return cli.ExitOK
}
