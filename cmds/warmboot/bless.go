package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/warmboot/warmboot/cmds/internal/bless"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// blessCmd is "warmboot bless": the running system came up.
func blessCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warmboot bless", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "the running system's root")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return cli.ExitUsage
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "warmboot: bless: "+format+"\n", a...) }
	if err := bless.Bless(*root, say); err != nil {
		fmt.Fprintf(stderr, "warmboot: bless: %v\n", err)
		return cli.ExitError
	}
	return cli.ExitOK
}
