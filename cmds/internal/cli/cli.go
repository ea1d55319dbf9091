// Package cli is what warmboot's commands share on the command line: exit
// codes and a repeatable flag.
package cli

import "strings"

// Exit codes: 0 done, 1 refused or failed, 2 bad usage, 3 not blessed
// because a device did not survive the kexec (bless).
const (
	ExitOK         = 0
	ExitError      = 1
	ExitUsage      = 2
	ExitDeviceLost = 3
)

// Strings is a repeatable string flag (-initrd A -initrd B), in order.
type Strings []string

func (s *Strings) String() string     { return strings.Join(*s, ",") }
func (s *Strings) Set(v string) error { *s = append(*s, v); return nil }
