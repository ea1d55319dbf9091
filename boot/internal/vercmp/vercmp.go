// Package vercmp compares version strings the way systemd-boot orders Boot
// Loader Specification entries (systemd's strverscmp_improved): digits
// compare as numbers, letters as text, "~" marks a pre-release that sorts
// before everything, "-" separates version from release, and a string that
// extends another with more segments is newer.
package vercmp

func validChar(c byte) bool {
	return isDigit(c) || isAlpha(c) || c == '~' || c == '-' || c == '^' || c == '.'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// at returns s[i], or 0 past the end, mirroring C's NUL terminator.
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// Compare returns -1 if a is older than b, 1 if newer, 0 if equivalent.
func Compare(a, b string) int {
	if a == "" || b == "" {
		return cmpStr(a, b)
	}
	i, j := 0, 0
	for {
		for i < len(a) && !validChar(a[i]) {
			i++
		}
		for j < len(b) && !validChar(b[j]) {
			j++
		}
		// "~" is a pre-release: older than anything, even the end.
		if at(a, i) == '~' || at(b, j) == '~' {
			if r := cmpBool(at(a, i) != '~', at(b, j) != '~'); r != 0 {
				return r
			}
			i, j = i+1, j+1
		}
		if i >= len(a) || j >= len(b) {
			return cmpStr(a[min(i, len(a)):], b[min(j, len(b)):])
		}
		for _, sep := range []byte{'-', '^', '.'} {
			if at(a, i) == sep || at(b, j) == sep {
				if r := cmpBool(at(a, i) != sep, at(b, j) != sep); r != 0 {
					return r
				}
				i, j = i+1, j+1
			}
		}
		var ii, jj int
		if isDigit(at(a, i)) || isDigit(at(b, j)) {
			for ii = i; isDigit(at(a, ii)); ii++ {
			}
			for jj = j; isDigit(at(b, jj)); jj++ {
			}
			// A numeric segment is newer than a non-numeric one.
			if r := cmpBool(i != ii, j != jj); r != 0 {
				return r
			}
			for at(a, i) == '0' {
				i++
			}
			for at(b, j) == '0' {
				j++
			}
			if r := cmpInt(ii-i, jj-j); r != 0 {
				return r
			}
			if r := cmpStr(a[i:ii], b[j:jj]); r != 0 {
				return r
			}
		} else {
			for ii = i; isAlpha(at(a, ii)); ii++ {
			}
			for jj = j; isAlpha(at(b, jj)); jj++ {
			}
			n := min(ii-i, jj-j)
			if r := cmpStr(a[i:i+n], b[j:j+n]); r != 0 {
				return r
			}
			if r := cmpInt(ii-i, jj-j); r != 0 {
				return r
			}
		}
		i, j = ii, jj
	}
}
