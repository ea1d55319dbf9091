package installed

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
)

// RecordsFile, in an image (images/mkimage writes it), says which
// versions of the records that cross boots its bootloader reads and
// writes, so that the tools on a host can tell, before they write a
// record the bootloader must read, whether it can.
const RecordsFile = "etc/warmboot/records"

// Records are the versions of the records that cross boots a bootloader
// reads or writes: the boot state file it reads (package state), the
// booted.json it writes (handoff.Booted), the handoff record it reads
// (handoff.Record). Zero is "not said": an image built before images
// said, which reads and writes version 1 of each.
type Records struct {
	State, Booted, Handoff int
}

// Current are this build's.
var Current = Records{State: state.Version, Booted: handoff.BootedVersion, Handoff: handoff.Version}

// Marshal writes r as RecordsFile holds it: "state 3\nbooted 2\nhandoff 1\n".
func (r Records) Marshal() []byte {
	return fmt.Appendf(nil, "state %d\nbooted %d\nhandoff %d\n", r.State, r.Booted, r.Handoff)
}

// ParseRecords reads a RecordsFile. Names it does not know are skipped
// (a newer image may say more).
func ParseRecords(b []byte) (Records, error) {
	var r Records
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		name, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if name == "" {
			continue
		}
		ver, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || ver < 1 {
			return Records{}, fmt.Errorf("line %d: %q is not NAME VERSION", n, sc.Text())
		}
		switch name {
		case "state":
			r.State = ver
		case "booted":
			r.Booted = ver
		case "handoff":
			r.Handoff = ver
		}
	}
	return r, sc.Err()
}

// or1 is v, or 1 where the image did not say.
func or1(v int) int { return max(v, 1) }

// Check says why an image that reads r cannot be re-entered by this
// build's tools without losing a record, or nil: the state file this
// build writes (warmswap, bless) must be one the image reads, or it takes
// it for a corrupt file and the trial, last-known-good and the kept
// default are gone; the handoff must be one it reads, or it ignores the
// request; the booted.json it writes must be one this build's bless
// reads, or no boot is ever blessed. img names the image.
func (r Records) Check(img string) error {
	fix := "rebuild the image from this release (make image, or make payload) and install it"
	switch {
	case or1(r.State) < Current.State:
		return fmt.Errorf("%s reads boot state version %d and this warmswap writes version %d, which it would take for a corrupt file (losing the trial a swap records, last-known-good and the kept default): %s", img, or1(r.State), Current.State, fix)
	case or1(r.Handoff) != Current.Handoff:
		return fmt.Errorf("%s reads handoff records of version %d and this warmswap writes version %d: %s", img, or1(r.Handoff), Current.Handoff, fix)
	case or1(r.Booted) > Current.Booted:
		return fmt.Errorf("%s writes booted.json version %d, newer than this warmboot bless reads (%d): no boot it makes could be blessed; upgrade warmswap and warmboot on this host to the image's release", img, r.Booted, Current.Booted)
	}
	return nil
}
