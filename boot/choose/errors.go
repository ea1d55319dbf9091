package choose

import "errors"

// ErrNoEntry is a name Menu.Select matches to no entry.
var ErrNoEntry = errors.New("no such entry")
