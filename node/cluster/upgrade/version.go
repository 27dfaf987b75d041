package upgrade

import (
	"strconv"
	"strings"
)

// CompareVersions orders two release versions, "v1.2.3" or "1.2.3" with
// an optional "-suffix" (a pre-release, or git describe's "-N-gHASH"): -1,
// 0 or 1 by major, minor and patch; a pre-release sorts before its
// release, other suffixes are equal. Versions that are not of this form
// (a bare commit, "dev") cannot be ordered and compare as 0: a downgrade
// is refused only when it is known to be one.
func CompareVersions(a, b string) int {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	if !oka || !okb {
		return 0
	}
	for i := range 3 {
		switch {
		case va.n[i] < vb.n[i]:
			return -1
		case va.n[i] > vb.n[i]:
			return 1
		}
	}
	switch {
	case va.pre && !vb.pre:
		return -1
	case vb.pre && !va.pre:
		return 1
	}
	return 0
}

type version struct {
	n   [3]int
	pre bool
}

func parseVersion(s string) (version, bool) {
	s = strings.TrimPrefix(s, "v")
	core, suffix, hasSuffix := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return version{}, false
	}
	var v version
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return version{}, false
		}
		v.n[i] = n
	}
	// git describe's "-N-gHASH" is a build after the release; anything
	// else after "-" is a pre-release (semver).
	if hasSuffix && !isDescribeSuffix(suffix) {
		v.pre = true
	}
	return v, true
}

func isDescribeSuffix(s string) bool {
	n, hash, ok := strings.Cut(s, "-g")
	if !ok {
		return false
	}
	hash = strings.TrimSuffix(hash, "-dirty")
	_, err := strconv.Atoi(n)
	return err == nil && hash != ""
}
