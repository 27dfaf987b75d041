package statedisk

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memDisk is an in-memory disk image.
type memDisk []byte

func (m memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }
func (m memDisk) ReadAt(p []byte, off int64) (int, error)  { return copy(p, m[off:]), nil }

func TestGUIDTextAndDiskForm(t *testing.T) {
	g := mustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	assert.Equal(t, []byte{0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4}, g[:])
	assert.Equal(t, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", g.String())
	_, err := ParseGUID("0FC63DAF84834772-8E79-3D69D8477DE4")
	require.Error(t, err)
	r, err := randomGUID()
	require.NoError(t, err)
	assert.Equal(t, byte('4'), r.String()[14], "version 4")
}

// TestWriteGPTLayout checks the bytes WriteGPT writes against the UEFI
// layout: protective MBR, both headers with valid CRCs pointing at each
// other, the entry array twice, and one partition from 1 MiB to the last
// usable LBA.
func TestWriteGPTLayout(t *testing.T) {
	for _, sector := range []int64{512, 4096} {
		size := int64(64 << 20)
		d := make(memDisk, size)
		p, err := WriteGPT(d, size, sector)
		require.NoError(t, err)
		last := uint64(size/sector - 1)
		entrySectors := uint64(16384 / sector)
		assert.Equal(t, uint64(1<<20)/uint64(sector), p.First, "aligned to 1 MiB")
		assert.Equal(t, last-1-entrySectors, p.Last, "up to the last usable LBA")

		assert.Equal(t, []byte{0x55, 0xAA}, []byte(d[510:512]))
		assert.Equal(t, byte(0xEE), d[446+4], "protective partition type")

		le := binary.LittleEndian
		for _, at := range []uint64{1, last} {
			h := bytes.Clone(d[int64(at)*sector : int64(at)*sector+92])
			require.Equal(t, "EFI PART", string(h[:8]))
			crc := le.Uint32(h[16:])
			le.PutUint32(h[16:], 0)
			assert.Equal(t, crc32.ChecksumIEEE(h), crc, "header CRC at LBA %d", at)
			assert.Equal(t, at, le.Uint64(h[24:]), "my LBA")
			other := last
			if at == last {
				other = 1
			}
			assert.Equal(t, other, le.Uint64(h[32:]), "the other header's LBA")
			entries := int64(le.Uint64(h[72:])) * sector
			assert.Equal(t, le.Uint32(h[88:]), crc32.ChecksumIEEE(d[entries:entries+16384]))
		}
		parts, err := ReadGPT(d, sector)
		require.NoError(t, err)
		require.Len(t, parts, 1)
		assert.Equal(t, p, parts[0])
		assert.Equal(t, PartitionName, parts[0].Name)
		assert.Equal(t, 1, parts[0].Index)
	}
}

func TestWriteGPTTooSmall(t *testing.T) {
	d := make(memDisk, 1<<20)
	_, err := WriteGPT(d, int64(len(d)), 512)
	require.ErrorIs(t, err, ErrTooSmall)
	assert.True(t, zero(d), "nothing written")
}

func TestReadGPTRejectsCorruption(t *testing.T) {
	size := int64(8 << 20)
	d := make(memDisk, size)
	_, err := WriteGPT(d, size, 512)
	require.NoError(t, err)
	d[512+40]++ // first usable LBA: the header CRC no longer matches
	_, err = ReadGPT(d, 512)
	require.ErrorIs(t, err, ErrNoGPT)

	_, err = ReadGPT(make(memDisk, size), 512)
	require.ErrorIs(t, err, ErrNoGPT)

	d = make(memDisk, size)
	_, err = WriteGPT(d, size, 512)
	require.NoError(t, err)
	d[1024+60]++ // the partition's name: the entries CRC fails
	_, err = ReadGPT(d, 512)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNoGPT)
}

func TestInspect(t *testing.T) {
	const size = 16 << 20
	ours := make(memDisk, size)
	p, err := WriteGPT(ours, size, 512)
	require.NoError(t, err)
	random := make(memDisk, size)
	_, _ = rand.Read(random)
	withMagic := func(off int, magic string) memDisk {
		d := make(memDisk, size)
		copy(d[off:], magic)
		return d
	}
	foreignGPT := make(memDisk, size)
	_, err = WriteGPT(foreignGPT, size, 512)
	require.NoError(t, err)
	rewriteName(t, foreignGPT, "EFI System")
	tailOnly := make(memDisk, size)
	tailOnly[size-100] = 1

	for _, tc := range []struct {
		name string
		d    memDisk
		kind Kind
		what string
	}{
		{"blank", make(memDisk, size), Blank, ""},
		{"ours", ours, Ours, ""},
		{"random", random, Foreign, "unrecognized data in its first MiBs"},
		{"ext4", withMagic(1080, "\x53\xef"), Foreign, "an ext2/3/4 filesystem"},
		{"xfs", withMagic(0, "XFSB"), Foreign, "an xfs filesystem"},
		{"btrfs", withMagic(65600, "_BHRfS_M"), Foreign, "a btrfs filesystem"},
		{"mbr", withMagic(510, "\x55\xaa"), Foreign, "an MBR partition table or boot sector"},
		{"foreign gpt", foreignGPT, Foreign, "a GPT with 1 partitions, none named cairn-state"},
		{"backup gpt only", tailOnly, Foreign, "unrecognized data at its end (a backup GPT?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Inspect(tc.d, size, 512)
			require.NoError(t, err)
			assert.Equal(t, tc.kind, c.Kind)
			assert.Equal(t, tc.what, c.What)
			if tc.kind == Ours {
				assert.Equal(t, p, c.Partition)
			}
		})
	}
}

// rewriteName renames the first partition and fixes both CRCs of the
// primary GPT, as another tool would have written it.
func rewriteName(t *testing.T, d memDisk, name string) {
	t.Helper()
	le := binary.LittleEndian
	entries := d[1024 : 1024+16384]
	clear(entries[56:128])
	for i, r := range name {
		le.PutUint16(entries[56+2*i:], uint16(r))
	}
	h := d[512 : 512+92]
	le.PutUint32(h[88:], crc32.ChecksumIEEE(entries))
	le.PutUint32(h[16:], 0)
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h))
}
