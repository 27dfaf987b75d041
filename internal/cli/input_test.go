package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// writeFile writes data to name in a fresh directory and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// pngHeader starts every PNG file: not UTF-8 from its first byte.
var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func TestConfigApplyRefusesFilesANodeWouldRefuseWithoutSendingThem(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	big := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte(f.config+"# padding\n"), 0o600))
	require.NoError(t, os.Truncate(big, 50<<20)) // a valid config plus 50 MB (sparse)

	for name, tc := range map[string]struct {
		args  []string
		stdin string
		want  string
	}{
		"binary": {args: []string{"-f", writeFile(t, "logo.png", pngHeader)},
			want: "logo.png: not a YAML document: the file is not UTF-8 text (byte 0x89 at offset 0)"},
		"NUL bytes": {args: []string{"-f", writeFile(t, "c.yaml", []byte("kind: x\x00"))},
			want: "c.yaml: not a YAML document: the file is not UTF-8 text (byte 0x00 at offset 7)"},
		"empty":       {args: []string{"-f", writeFile(t, "empty.yaml", nil)}, want: "empty.yaml: file is empty"},
		"white space": {args: []string{"-f", writeFile(t, "blank.yaml", []byte("\n  \n"))}, want: "blank.yaml: file is empty"},
		"empty stdin": {args: []string{"-f", "-"}, want: "stdin: file is empty"},
		"too large": {args: []string{"-f", big},
			want: "big.yaml: too large: it is 50 MiB; a node accepts a configuration of at most 4 MiB"},
		"too large on stdin": {args: []string{"-f", "-"}, stdin: f.config + strings.Repeat("#", config.MaxDocumentBytes),
			want: "stdin: too large: it is more than 4 MiB; a node accepts a configuration of at most 4 MiB"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLIWithInput(t, tc.stdin, append([]string{"-e", addr, "config", "apply"}, tc.args...)...)
			assert.Equal(t, 1, r.code)
			assert.Contains(t, r.stderr, "Error: ")
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stderr, "internal")
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Empty(t, f.applied, "nothing was sent")
}

func TestConfigPatchRefusesBadPatchFilesAndResultsTooLargeToSend(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "config", "patch", "--patch-file", writeFile(t, "p.bin", pngHeader))
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "p.bin: not a YAML document: the file is not UTF-8 text")

	r = runCLI(t, "-e", addr, "config", "patch", "--patch-file", writeFile(t, "p.yaml", nil))
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "p.yaml: file is empty")

	// Each half fits; together they are more than a node accepts.
	f.mu.Lock()
	f.config += "padding: " + strings.Repeat("a", config.MaxDocumentBytes/2) + "\n"
	f.mu.Unlock()
	grow := writeFile(t, "grow.yaml", []byte("more: "+strings.Repeat("b", config.MaxDocumentBytes/2)+"\n"))
	r = runCLI(t, "-e", addr, "config", "patch", "--patch-file", grow)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "the configuration: too large: it is 4.0 MiB (")
	assert.Contains(t, r.stderr, " bytes); a node accepts a configuration of at most 4 MiB")

	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Empty(t, f.applied, "nothing was sent")
}

func TestConfigEditRefusesABinaryResultAndKeepsIt(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)
	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", `printf '\211PNG\0' >`)

	r := runCLI(t, "-e", addr, "config", "edit")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "cluster.yaml: not a YAML document: the file is not UTF-8 text (byte 0x89 at offset 0)")
	assert.Contains(t, r.stderr, "your edit is saved in")
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Empty(t, f.applied)
}
