package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// walkPages checks the structure of a bbolt file by reading it, before bbolt maps it: bbolt
// trusts its pages, and on a damaged file it panics in a goroutine of its own (no recover can
// catch that) or reads past the end of the mapping. It checks the meta pages (magic, version,
// checksum), then every page reachable from the root: inside the file and below the high-water
// mark, marked with its own id, a branch or a leaf, its elements inside the page, reached once.
// It returns the problems found (at most max); none means bbolt may open the file safely.
// bbolt writes in the machine's byte order; every platform mtguard ships for is little-endian.
func walkPages(f *os.File, size int64, max int) []string {
	w := &pageWalker{f: f, size: size, max: max, seen: map[uint64]bool{}}
	m, err := w.meta()
	if err != nil {
		return []string{err.Error()}
	}
	w.pageSize, w.hwm = int64(m.pageSize), m.pgid
	if want := int64(m.pgid) * w.pageSize; size < want {
		// bbolt writes (and a backup copies) every page up to the high-water mark.
		return []string{fmt.Sprintf("the file is cut short: %d bytes of the %d its pages take (an interrupted copy?)", size, want)}
	}
	w.page(m.root, "root")
	return w.problems
}

type pageWalker struct {
	f        *os.File
	size     int64
	max      int
	pageSize int64
	hwm      uint64
	seen     map[uint64]bool
	problems []string
}

const (
	pageHeader     = 16
	elementSize    = 16
	branchFlag     = 0x01
	leafFlag       = 0x02
	bucketLeafFlag = 0x01
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
)

type boltMeta struct {
	pageSize   uint32
	root, pgid uint64
	txid       uint64
}

// meta reads the two meta pages and returns the valid one with the higher transaction id, as
// bbolt does. The first is at 0; the second one page further, at the first's page size (or, if
// the first is damaged, at the usual 4096).
func (w *pageWalker) meta() (boltMeta, error) {
	m0, err0 := readMeta(w.f, 0)
	second := int64(4096)
	if err0 == nil {
		second = int64(m0.pageSize)
	}
	m1, err1 := readMeta(w.f, second)
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, fmt.Errorf("not an mtguard store, or its header is damaged (no sound bbolt meta page: %v; %v)", err0, err1)
	case err0 != nil:
		return m1, nil
	case err1 != nil || m0.txid > m1.txid:
		return m0, nil
	}
	return m1, nil
}

// readMeta reads and checks the meta page at off.
func readMeta(f *os.File, off int64) (boltMeta, error) {
	buf := make([]byte, pageHeader+64)
	if _, err := f.ReadAt(buf, off); err != nil {
		return boltMeta{}, fmt.Errorf("meta page at %d: %w", off, err)
	}
	m, le := buf[pageHeader:], binary.LittleEndian
	h := fnv.New64a()
	h.Write(m[:56])
	bm := boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	switch {
	case le.Uint32(m[0:]) != boltMagic:
		return bm, fmt.Errorf("meta page at %d: not a bbolt file (bad magic number)", off)
	case le.Uint32(m[4:]) != boltVersion:
		return bm, fmt.Errorf("meta page at %d: bbolt format version %d, not %d", off, le.Uint32(m[4:]), boltVersion)
	case le.Uint64(m[56:]) != h.Sum64():
		return bm, fmt.Errorf("meta page at %d: checksum mismatch", off)
	case bm.pageSize < 512 || bm.pageSize > 1<<20:
		return bm, fmt.Errorf("meta page at %d: page size %d", off, bm.pageSize)
	}
	return bm, nil
}

func (w *pageWalker) fail(format string, args ...any) {
	if len(w.problems) < w.max {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
}

// page checks the page id and, through it, every page below it.
func (w *pageWalker) page(id uint64, where string) {
	if len(w.problems) >= w.max {
		return
	}
	switch {
	case id < 2 || id >= w.hwm:
		w.fail("%s: page %d is outside the file's pages (2 to %d)", where, id, w.hwm-1)
		return
	case w.seen[id]:
		w.fail("%s: page %d is reached twice", where, id)
		return
	}
	w.seen[id] = true
	off := int64(id) * w.pageSize
	if off+w.pageSize > w.size {
		w.fail("%s: page %d lies past the end of the file", where, id)
		return
	}
	head := make([]byte, pageHeader)
	if _, err := w.f.ReadAt(head, off); err != nil {
		w.fail("%s: read page %d: %v", where, id, err)
		return
	}
	le := binary.LittleEndian
	overflow := uint64(le.Uint32(head[12:]))
	if got := le.Uint64(head); got != id {
		w.fail("%s: page %d is marked as page %d", where, id, got)
		return
	}
	if id+overflow >= w.hwm || off+int64(overflow+1)*w.pageSize > w.size {
		w.fail("%s: page %d runs %d pages past the end of the file", where, id, overflow)
		return
	}
	for i := uint64(1); i <= overflow; i++ {
		w.seen[id+i] = true
	}
	p := make([]byte, int64(overflow+1)*w.pageSize)
	if _, err := w.f.ReadAt(p, off); err != nil && err != io.EOF {
		w.fail("%s: read page %d: %v", where, id, err)
		return
	}
	w.elements(p, fmt.Sprintf("%s page %d", where, id))
}

// elements checks the elements of a page (or an inline bucket's page) p and follows them.
func (w *pageWalker) elements(p []byte, where string) {
	le := binary.LittleEndian
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if pageHeader+count*elementSize > len(p) {
		w.fail("%s: %d elements do not fit in the page", where, count)
		return
	}
	for i := range count {
		e := pageHeader + i*elementSize
		switch flags {
		case branchFlag:
			pos, ksize := int(le.Uint32(p[e:])), int(le.Uint32(p[e+4:]))
			if e+pos+ksize > len(p) {
				w.fail("%s: element %d lies outside the page", where, i)
				return
			}
			w.page(le.Uint64(p[e+8:]), where)
		case leafFlag:
			eflags, pos := le.Uint32(p[e:]), int(le.Uint32(p[e+4:]))
			ksize, vsize := int(le.Uint32(p[e+8:])), int(le.Uint32(p[e+12:]))
			end := e + pos + ksize + vsize
			if end > len(p) || end < e {
				w.fail("%s: element %d lies outside the page", where, i)
				return
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := p[e+pos+ksize : end]
			if len(v) < 16 {
				w.fail("%s: bucket %q has a short header", where, p[e+pos:e+pos+ksize])
				return
			}
			name := fmt.Sprintf("%s, bucket %q", where, p[e+pos:e+pos+ksize])
			if root := le.Uint64(v); root != 0 {
				w.page(root, name)
			} else if len(v) < 16+pageHeader {
				w.fail("%s: inline bucket too short", name)
			} else {
				w.elements(v[16:], name+" (inline)")
			}
		default:
			w.fail("%s: not a branch or leaf page (flags %#x)", where, flags)
			return
		}
	}
}
