package upgrade

import (
	"debug/buildinfo"
	"fmt"
	"io"
	"strings"
)

// versionVar is the variable cairnd's release version is linked into
// (-ldflags "-X versionVar=VERSION", as the Makefile builds it).
const (
	cairnModule = "github.com/cairn-project/cairn"
	versionVar  = cairnModule + "/internal/version.Version"
)

// ArtifactVersion reads the release version a process-mode artifact (a
// cairnd binary) was built as, from the build information the Go
// toolchain records in every binary: the -ldflags that set versionVar.
// Nothing is executed, so an artifact for another architecture is read
// the same way. A binary without Go build information, or built without a
// version, is refused: a plan needs to know what it upgrades to.
func ArtifactVersion(r io.ReaderAt) (string, error) {
	bi, err := buildinfo.Read(r)
	if err != nil {
		return "", fmt.Errorf("%w: no Go build information (%w): not a cairnd binary", ErrBadArtifact, err)
	}
	if bi.Main.Path != cairnModule {
		return "", fmt.Errorf("%w: a build of %s (module %q), not of cairnd", ErrBadArtifact, bi.Path, bi.Main.Path)
	}
	for _, s := range bi.Settings {
		if s.Key != "-ldflags" {
			continue
		}
		if v := ldflagValue(s.Value, versionVar); v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: built without a release version (build it with make bundle VERSION=...)", ErrBadArtifact)
}

// ldflagValue returns the value -X gives name in ldflags ("" if none).
func ldflagValue(ldflags, name string) string {
	fields := strings.Fields(ldflags)
	for i, f := range fields {
		arg := ""
		switch {
		case f == "-X" && i+1 < len(fields):
			arg = fields[i+1]
		case strings.HasPrefix(f, "-X="):
			arg = strings.TrimPrefix(f, "-X=")
		default:
			continue
		}
		arg = strings.Trim(arg, `"'`)
		if v, ok := strings.CutPrefix(arg, name+"="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}
