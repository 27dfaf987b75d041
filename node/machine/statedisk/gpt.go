package statedisk

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// PartitionName is the GPT name of the state partition: what marks a disk
// as Cairn's before its filesystem is read, and what a boot without a
// config looks for (FindSaved).
const PartitionName = "cairn-state"

// GPT layout constants (UEFI 2.10, section 5.3).
const (
	gptSignature  = "EFI PART"
	gptRevision   = 0x00010000
	gptHeaderSize = 92
	gptEntries    = 128
	gptEntrySize  = 128
	// alignment of the partition's start: 1 MiB, as every partitioning
	// tool does, so it sits on any erase block and RAID stripe.
	alignment = 1 << 20
)

// linuxFilesystem is the partition type GUID "Linux filesystem data"
// (0FC63DAF-8483-4772-8E79-3D69D8477DE4) in its on-disk, mixed-endian form.
var linuxFilesystem = mustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")

// GUID is a GPT GUID in its on-disk byte order: the first three fields
// little-endian, the rest as written.
type GUID [16]byte

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// ParseGUID parses the text form (8-4-4-4-12 hex digits).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	var raw [16]byte
	hex := strings.ReplaceAll(s, "-", "")
	if len(hex) != 32 || len(s) != 36 {
		return g, fmt.Errorf("guid %q: want 8-4-4-4-12 hex digits", s)
	}
	for i := range raw {
		var b byte
		if _, err := fmt.Sscanf(hex[2*i:2*i+2], "%02x", &b); err != nil {
			return g, fmt.Errorf("guid %q: %w", s, err)
		}
		raw[i] = b
	}
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g, nil
}

// String is the text form.
func (g GUID) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]), binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
}

// randomGUID is a version 4 GUID.
func randomGUID() (GUID, error) {
	var g GUID
	if _, err := rand.Read(g[:]); err != nil {
		return g, err
	}
	g[7] = g[7]&0x0f | 0x40 // version 4 (the high nibble of field 3, stored little-endian)
	g[8] = g[8]&0x3f | 0x80 // RFC 4122 variant
	return g, nil
}

// Partition is one GPT partition entry.
type Partition struct {
	// Index is the entry's number, from 1, as the kernel numbers
	// partitions (vda1).
	Index       int
	Type, GUID  GUID
	First, Last uint64 // LBAs, inclusive
	Name        string
}

// Layout is where WriteGPT puts the state partition on a disk.
type Layout struct {
	SectorSize  int64
	Sectors     int64 // the disk's size in sectors
	First, Last uint64
}

// layoutFor computes the one-partition layout of a disk of size bytes.
func layoutFor(size, sectorSize int64) (Layout, error) {
	l := Layout{SectorSize: sectorSize, Sectors: size / sectorSize}
	entrySectors := int64(gptEntries*gptEntrySize) / sectorSize
	firstUsable := 2 + entrySectors
	lastUsable := l.Sectors - 2 - entrySectors
	align := int64(alignment) / sectorSize
	first := (firstUsable + align - 1) / align * align
	if lastUsable-first < align {
		return l, fmt.Errorf("%w: %d bytes is too small for a state partition", ErrTooSmall, size)
	}
	l.First, l.Last = uint64(first), uint64(lastUsable)
	return l, nil
}

// WriteGPT writes a protective MBR, the primary and the backup GPT with one
// Linux filesystem partition named PartitionName spanning the disk (from
// 1 MiB to the last usable sector). size is the disk's size in bytes.
// Nothing of the partition itself is written.
func WriteGPT(w io.WriterAt, size, sectorSize int64) (Partition, error) {
	l, err := layoutFor(size, sectorSize)
	if err != nil {
		return Partition{}, err
	}
	disk, err := randomGUID()
	if err != nil {
		return Partition{}, err
	}
	part := Partition{Index: 1, Type: linuxFilesystem, First: l.First, Last: l.Last, Name: PartitionName}
	if part.GUID, err = randomGUID(); err != nil {
		return Partition{}, err
	}
	entries := make([]byte, gptEntries*gptEntrySize)
	putEntry(entries[:gptEntrySize], part)
	entrySectors := int64(len(entries)) / sectorSize
	last := l.Sectors - 1
	primary := header(disk, 1, uint64(last), 2, l, entries)
	backup := header(disk, uint64(last), 1, uint64(last-entrySectors), l, entries)

	for _, wr := range []struct {
		lba  int64
		data []byte
	}{
		{0, protectiveMBR(l.Sectors, sectorSize)},
		{1, pad(primary, sectorSize)},
		{2, entries},
		{last - entrySectors, entries},
		{last, pad(backup, sectorSize)},
	} {
		if _, err := w.WriteAt(wr.data, wr.lba*sectorSize); err != nil {
			return Partition{}, fmt.Errorf("write gpt: %w", err)
		}
	}
	return part, nil
}

func putEntry(b []byte, p Partition) {
	copy(b[0:16], p.Type[:])
	copy(b[16:32], p.GUID[:])
	binary.LittleEndian.PutUint64(b[32:], p.First)
	binary.LittleEndian.PutUint64(b[40:], p.Last)
	for i, u := range utf16.Encode([]rune(p.Name)) {
		if i == 36 {
			break
		}
		binary.LittleEndian.PutUint16(b[56+2*i:], u)
	}
}

// header builds a GPT header (92 bytes) with its CRC.
func header(disk GUID, current, backup, entriesLBA uint64, l Layout, entries []byte) []byte {
	h := make([]byte, gptHeaderSize)
	copy(h, gptSignature)
	le := binary.LittleEndian
	le.PutUint32(h[8:], gptRevision)
	le.PutUint32(h[12:], gptHeaderSize)
	le.PutUint64(h[24:], current)
	le.PutUint64(h[32:], backup)
	entrySectors := uint64(len(entries)) / uint64(l.SectorSize)
	le.PutUint64(h[40:], 2+entrySectors)                   // first usable
	le.PutUint64(h[48:], uint64(l.Sectors)-2-entrySectors) // last usable
	copy(h[56:72], disk[:])
	le.PutUint64(h[72:], entriesLBA)
	le.PutUint32(h[80:], gptEntries)
	le.PutUint32(h[84:], gptEntrySize)
	le.PutUint32(h[88:], crc32.ChecksumIEEE(entries))
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h)) // computed with the field zero
	return h
}

// protectiveMBR is LBA 0: one partition of type 0xEE covering the disk
// (capped at 2^32-1 sectors), so MBR-only tools see the disk as in use.
func protectiveMBR(sectors, sectorSize int64) []byte {
	b := make([]byte, sectorSize)
	e := b[446:462]
	e[1], e[2], e[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	e[4] = 0xEE
	e[5], e[6], e[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(e[8:], 1)
	binary.LittleEndian.PutUint32(e[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	b[510], b[511] = 0x55, 0xAA
	return b
}

func pad(b []byte, n int64) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

// ReadGPT reads the primary GPT of a disk and returns its used partition
// entries. It returns ErrNoGPT when LBA 1 holds no valid GPT header (bad
// signature or CRC), and an error when the entries' CRC does not match.
func ReadGPT(r io.ReaderAt, sectorSize int64) ([]Partition, error) {
	h := make([]byte, sectorSize)
	if _, err := r.ReadAt(h, sectorSize); err != nil {
		return nil, fmt.Errorf("read gpt header: %w", err)
	}
	le := binary.LittleEndian
	if !bytes.Equal(h[:8], []byte(gptSignature)) {
		return nil, ErrNoGPT
	}
	size := le.Uint32(h[12:])
	if size < gptHeaderSize || int64(size) > sectorSize {
		return nil, fmt.Errorf("%w: header size %d", ErrNoGPT, size)
	}
	hdr := bytes.Clone(h[:size])
	want := le.Uint32(hdr[16:])
	le.PutUint32(hdr[16:], 0)
	if crc32.ChecksumIEEE(hdr) != want {
		return nil, fmt.Errorf("%w: header CRC mismatch", ErrNoGPT)
	}
	lba, n, esize := le.Uint64(h[72:]), le.Uint32(h[80:]), le.Uint32(h[84:])
	if esize < gptEntrySize || n > 1024 || esize > 1024 {
		return nil, fmt.Errorf("%w: %d entries of %d bytes", ErrNoGPT, n, esize)
	}
	entries := make([]byte, int(n)*int(esize))
	if _, err := r.ReadAt(entries, int64(lba)*sectorSize); err != nil {
		return nil, fmt.Errorf("read gpt entries: %w", err)
	}
	if crc32.ChecksumIEEE(entries) != le.Uint32(h[88:]) {
		return nil, errors.New("gpt: partition entries CRC mismatch")
	}
	var out []Partition
	for i := range int(n) {
		e := entries[i*int(esize) : (i+1)*int(esize)]
		var p Partition
		copy(p.Type[:], e[0:16])
		if p.Type == (GUID{}) {
			continue
		}
		copy(p.GUID[:], e[16:32])
		p.Index, p.First, p.Last = i+1, le.Uint64(e[32:]), le.Uint64(e[40:])
		u := make([]uint16, 0, 36)
		for j := 56; j+1 < 128; j += 2 {
			c := le.Uint16(e[j:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		p.Name = string(utf16.Decode(u))
		out = append(out, p)
	}
	return out, nil
}
