#!/bin/sh
# dracut pre-pivot hook of module warmboot (sourced by dracut: no exit).
if [ -d /.warmboot ]; then
	if ! { mkdir -p /run/warmboot && cp -a /.warmboot/. /run/warmboot/; }; then
		echo "warmboot: could not copy /.warmboot to /run/warmboot: warmboot bless and the journal will not know how this system was booted" >&2
	fi
fi
