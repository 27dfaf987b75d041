package gossip

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportBoundaries enforces STYLE.md rule 11: gossip imports neither
// the node runtime nor consensus (which consumes gossip through its own
// small interface), nor any binary.
func TestImportBoundaries(t *testing.T) {
	const module = "github.com/cairn-project/cairn/"
	forbidden := []string{module + "node", module + "consensus", module + "cmd"}

	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			for _, bad := range forbidden {
				require.False(t, path == bad || strings.HasPrefix(path, bad+"/"),
					"%s imports %s", file, path)
			}
		}
	}
}
