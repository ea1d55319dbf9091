package installed

import "errors"

// ErrNoImage is returned when dir holds no warmboot image.
var ErrNoImage = errors.New("no warmboot image")
