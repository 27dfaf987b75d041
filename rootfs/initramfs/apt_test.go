package initramfs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseKernelDepends(t *testing.T) {
	out := "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-57-cloud-amd64\n  Depends: something-else\n"
	got, err := parseKernelDepends([]byte(out))
	require.NoError(t, err)
	require.Equal(t, "linux-image-6.1.0-57-cloud-amd64", got)
	_, err = parseKernelDepends([]byte("linux-image-cloud-amd64\n  Depends: linux-image-amd64\n"))
	require.ErrorIs(t, err, ErrPackage)
}

func TestParseShowReadsTheFirstStanza(t *testing.T) {
	out := `Package: e2fsprogs
Version: 1.47.0-2+b2
Description: ext2/ext3/ext4 file system utilities
 continued: line
Filename: pool/main/e/e2fsprogs/e2fsprogs_1.47.0-2+b2_amd64.deb
SHA256: 3f0c
Size: 571920

Package: e2fsprogs
Version: 1.46.0-1
Filename: pool/main/e/e2fsprogs/e2fsprogs_1.46.0-1_amd64.deb
SHA256: ffff
`
	p, err := parseShow("e2fsprogs", []byte(out))
	require.NoError(t, err)
	require.Equal(t, debPackage{Name: "e2fsprogs", Version: "1.47.0-2+b2",
		Filename: "pool/main/e/e2fsprogs/e2fsprogs_1.47.0-2+b2_amd64.deb", SHA256: "3f0c"}, p)
	require.Equal(t, "/c/e2fsprogs_1.47.0-2+b2_amd64.deb", p.file("/c"))
	_, err = parseShow("x", []byte("N: Unable to locate package x\n"))
	require.ErrorIs(t, err, ErrPackage)
}
