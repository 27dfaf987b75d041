package statedisk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// How much of a disk Inspect reads: the head holds every partition table
// and filesystem superblock it knows (btrfs's first at 64 KiB), the tail
// the backup GPT.
const (
	headBytes = 2 << 20
	tailBytes = 1 << 20
)

// Kind is what Inspect found on a disk.
type Kind string

// What a disk may hold.
const (
	// Blank: zeros in the head and the tail; safe to partition.
	Blank Kind = "blank"
	// Ours: a GPT with a partition named PartitionName.
	Ours Kind = "ours"
	// Foreign: anything else, which is never written.
	Foreign Kind = "foreign"
)

// Content is what a disk holds.
type Content struct {
	Kind Kind
	// Partition is the state partition (Ours).
	Partition Partition
	// What describes a Foreign disk's contents ("an xfs filesystem",
	// "a GPT without a cairn-state partition", "unrecognized data").
	What string
}

// signatures are the magics Inspect names (blkid's offsets).
var signatures = []struct {
	offset int64
	magic  []byte
	what   string
}{
	{1080, []byte{0x53, 0xEF}, "an ext2/3/4 filesystem"},
	{0, []byte("XFSB"), "an xfs filesystem"},
	{65600, []byte("_BHRfS_M"), "a btrfs filesystem"},
	{0, []byte("LUKS\xba\xbe"), "a LUKS volume"},
	{4086, []byte("SWAPSPACE2"), "a swap area"},
	{32769, []byte("CD001"), "an ISO 9660 filesystem"},
	{3, []byte("mkfs.fat"), "a FAT filesystem"},
	{3, []byte("NTFS    "), "an NTFS filesystem"},
}

// Inspect reads a disk's head and tail and says what it holds. "Blank"
// is strict: all zeros, not merely "no known signature", because a disk
// of unknown data (random bytes, an encrypted volume without a header, a
// filesystem this list does not know) must never be formatted.
func Inspect(r io.ReaderAt, size, sectorSize int64) (Content, error) {
	head := make([]byte, min(size, headBytes))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return Content{}, fmt.Errorf("read disk head: %w", err)
	}
	tailAt := max(size-tailBytes, 0)
	tail := make([]byte, size-tailAt)
	if _, err := r.ReadAt(tail, tailAt); err != nil && !errors.Is(err, io.EOF) {
		return Content{}, fmt.Errorf("read disk tail: %w", err)
	}
	if zero(head) && zero(tail) {
		return Content{Kind: Blank}, nil
	}
	parts, err := ReadGPT(r, sectorSize)
	switch {
	case err == nil:
		for _, p := range parts {
			if p.Name == PartitionName {
				return Content{Kind: Ours, Partition: p}, nil
			}
		}
		return Content{Kind: Foreign, What: fmt.Sprintf("a GPT with %d partitions, none named %s", len(parts), PartitionName)}, nil
	case !errors.Is(err, ErrNoGPT):
		return Content{Kind: Foreign, What: "a damaged GPT (" + err.Error() + ")"}, nil
	}
	if len(head) >= 512 && head[510] == 0x55 && head[511] == 0xAA {
		return Content{Kind: Foreign, What: "an MBR partition table or boot sector"}, nil
	}
	if what := signature(head); what != "" {
		return Content{Kind: Foreign, What: what}, nil
	}
	if !zero(head) {
		return Content{Kind: Foreign, What: "unrecognized data in its first MiBs"}, nil
	}
	return Content{Kind: Foreign, What: "unrecognized data at its end (a backup GPT?)"}, nil
}

// signature names the first known magic in b, or "".
func signature(b []byte) string {
	for _, s := range signatures {
		end := s.offset + int64(len(s.magic))
		if end <= int64(len(b)) && bytes.Equal(b[s.offset:end], s.magic) {
			return s.what
		}
	}
	return ""
}

func zero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

var zeros = make([]byte, 64<<10)
