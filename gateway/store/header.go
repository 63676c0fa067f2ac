package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
)

// The layout of a bbolt meta page (go.etcd.io/bbolt/internal/common), which
// we read ourselves before bbolt ever sees the file. bbolt trusts its meta
// page: it maps the file and follows page ids without bounds checks, so a
// truncated file makes it fault (SIGBUS) instead of returning an error, and a
// file of size zero is silently initialised — i.e. overwritten. Checking
// here first turns both into a refusal that leaves the file alone.
const (
	boltMagic       uint32 = 0xED0CDAED
	boltVersion     uint32 = 2
	boltNoFreelist  uint64 = 0xffffffffffffffff
	pageHeaderSize         = 16 // id u64, flags u16, count u16, overflow u32
	metaChecksumOff        = 56 // the checksum covers the meta fields before it
	metaSize               = metaChecksumOff + 8
	minPageSize            = 512
	maxPageSize            = 1 << 24 // the largest page size bbolt itself probes for
)

// boltMeta is the part of a bbolt meta page the header check needs.
type boltMeta struct {
	magic, version, pageSize uint32
	root, freelist, hwm      uint64 // page ids; hwm is the first page past the data
	txid                     uint64
	checksum, sum            uint64
}

// parseMeta decodes the meta stored in a page that starts at buf[0]. bbolt
// writes it in the machine's byte order, so the file is not portable
// between byte orders, and neither is this reader.
func parseMeta(buf []byte) boltMeta {
	m := buf[pageHeaderSize : pageHeaderSize+metaSize]
	ne := binary.NativeEndian
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksumOff])
	return boltMeta{
		magic:    ne.Uint32(m[0:]),
		version:  ne.Uint32(m[4:]),
		pageSize: ne.Uint32(m[8:]),
		// m[12:16] flags, m[16:24] root bucket page, m[24:32] root sequence
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
		checksum: ne.Uint64(m[metaChecksumOff:]),
		sum:      h.Sum64(),
	}
}

// problem says why bbolt would reject this meta page, or "" if it is valid.
func (m boltMeta) problem() string {
	switch {
	case m.magic != boltMagic:
		return fmt.Sprintf("no bbolt magic 0x%08X in the meta page (found 0x%08X)", boltMagic, m.magic)
	case m.version != boltVersion:
		return fmt.Sprintf("bbolt format version %d, want %d", m.version, boltVersion)
	case m.checksum != m.sum:
		return "meta page checksum mismatch"
	}
	return ""
}

// checkBoltFile refuses a file that bbolt would misread, crash on or
// rewrite. It reads only. It mirrors how bbolt picks its meta page: either
// of the two may be torn by a crash, and the valid one with the higher
// transaction id wins. The error is only the detail; the caller names the
// file.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", info.Mode().Type())
	}
	size := info.Size()
	if size < pageHeaderSize+metaSize {
		return fmt.Errorf("only %d bytes, too short for a bbolt header", size)
	}

	readMeta := func(off int64) (boltMeta, bool) {
		buf := make([]byte, pageHeaderSize+metaSize)
		if _, err := f.ReadAt(buf, off); err != nil {
			return boltMeta{}, false // short read: no meta page here
		}
		return parseMeta(buf), true
	}

	var (
		best     boltMeta
		found    bool
		firstErr string
	)
	consider := func(m boltMeta) {
		if p := m.problem(); p != "" {
			if firstErr == "" {
				firstErr = p
			}
			return
		}
		if !found || m.txid > best.txid {
			best, found = m, true
		}
	}
	m0, _ := readMeta(0)
	consider(m0)
	if found && best.pageSize >= minPageSize && best.pageSize <= maxPageSize {
		if m1, ok := readMeta(int64(best.pageSize)); ok {
			consider(m1)
		}
	} else {
		// Meta 0 is unusable, so the page size is unknown: probe where
		// meta 1 would be for each page size, as bbolt does.
		for pos := int64(1024); pos <= maxPageSize && pos < size-1024; pos <<= 1 {
			if m1, ok := readMeta(pos); ok && m1.problem() == "" && int64(m1.pageSize) == pos {
				consider(m1)
				break
			}
		}
	}
	if !found {
		return errors.New(firstErr)
	}

	ps := uint64(best.pageSize)
	switch {
	case ps < minPageSize || ps > maxPageSize || ps&(ps-1) != 0:
		return fmt.Errorf("implausible page size %d", ps)
	case best.hwm < 4:
		// A fresh file already has 4 pages: two metas, a freelist and the root.
		return fmt.Errorf("implausible page count %d", best.hwm)
	case best.root < 2 || best.root >= best.hwm:
		return fmt.Errorf("root page %d outside the file's %d pages", best.root, best.hwm)
	case best.freelist != boltNoFreelist && (best.freelist < 2 || best.freelist >= best.hwm):
		return fmt.Errorf("freelist page %d outside the file's %d pages", best.freelist, best.hwm)
	case best.hwm > uint64(size)/ps: // not hwm*ps > size: that could overflow
		return fmt.Errorf("truncated: %d bytes, but the header says %d pages of %d bytes", size, best.hwm, ps)
	}
	return nil
}
