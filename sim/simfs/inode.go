package simfs

import (
	"maps"
	"slices"
)

// fate is what became of a file's or a directory's unsynced operations at
// a crash.
type fate uint8

const (
	fateNone fate = iota // nothing was unsynced
	fateLost
	fateTorn
	fateKept
)

// drawFate draws the fate of total unsynced operations as the simulator's
// disk always has: lost, kept, or torn after keep whole ones.
func drawFate(r Rand, total int) (f fate, keep int) {
	if total == 0 {
		return fateNone, 0
	}
	switch r.Intn(3) {
	case 0:
		return fateLost, 0
	case 1:
		return fateKept, total
	}
	return fateTorn, r.Intn(total)
}

// fileOp is one operation on a file's content: an append (off, n: the
// bytes data[off:off+n], or saved once data no longer holds them) or a
// truncation to n bytes.
type fileOp struct {
	truncate    bool
	misdirected bool
	off, n      int
	saved       []byte
}

// inode is a file's content. The durable content is data[:durLen] while
// shared (the usual case: appends only, since the last sync), or base.
// ops are the operations since the durable content, in order.
type inode struct {
	data   []byte
	shared bool
	durLen int
	base   []byte
	ops    []fileOp
	// seq counts the operations ever made; durSeq those durable.
	seq, durSeq uint64
	// lastWrite is where the last durable write starts: bytes before it
	// were followed by a later write (0: none known).
	lastWrite int
	// damaged is set once a fault reached the durable content.
	damaged bool
	// links counts the names the process sees for the file; dirty is set
	// while the file is on its file system's list of files with
	// operations not yet durable.
	links int
	dirty bool
}

func newInode() *inode { return &inode{shared: true} }

func (ino *inode) write(p []byte, gap int) {
	off := len(ino.data)
	for range gap {
		ino.data = append(ino.data, 0)
	}
	ino.data = append(ino.data, p...)
	ino.ops = append(ino.ops, fileOp{off: off, n: gap + len(p), misdirected: gap > 0})
	ino.seq++
}

func (ino *inode) truncate(size int) {
	for i := range ino.ops {
		op := &ino.ops[i]
		if !op.truncate && op.saved == nil && op.off+op.n > size {
			op.saved = slices.Clone(ino.data[op.off : op.off+op.n])
		}
	}
	if ino.shared && size < ino.durLen {
		ino.base = slices.Clone(ino.data[:ino.durLen])
		ino.shared = false
	}
	ino.data = ino.data[:size]
	ino.ops = append(ino.ops, fileOp{truncate: true, n: size})
	ino.seq++
}

func (ino *inode) opBytes(op *fileOp) []byte {
	if op.saved != nil {
		return op.saved
	}
	return ino.data[op.off : op.off+op.n]
}

func (ino *inode) durableContent() []byte {
	if ino.shared {
		return ino.data[:ino.durLen]
	}
	return ino.base
}

// persist makes the operations up to seq durable: an fsync completed.
func (ino *inode) persist(seq uint64) {
	k := int(seq - ino.durSeq)
	if k <= 0 {
		return
	}
	ino.settle(k, -1)
	ino.durSeq = seq
}

// settle makes the first k operations durable, and of the next one (a
// write) the first partial bytes if partial >= 0, then forgets them.
func (ino *inode) settle(k, partial int) {
	// The usual case: appends that follow the durable content, which
	// then just grows over them.
	fast := ino.shared && partial < 0
	end := ino.durLen
	for i := 0; fast && i < k; i++ {
		op := &ino.ops[i]
		fast = !op.truncate && op.saved == nil && op.off == end
		end = op.off + op.n
	}
	if fast {
		for i := range k {
			op := &ino.ops[i]
			ino.durLen = op.off + op.n
			ino.lastWrite = op.off
			ino.damaged = ino.damaged || op.misdirected
		}
	} else {
		// Replay from the durable content (rare: a truncation, or a torn
		// write at a crash).
		content := slices.Clone(ino.durableContent())
		for i := 0; i < k || (i == k && partial >= 0 && i < len(ino.ops)); i++ {
			op := &ino.ops[i]
			if op.truncate {
				if i == k {
					break // a torn truncation did not happen
				}
				content = content[:op.n]
				if ino.lastWrite >= op.n {
					ino.lastWrite = 0
				}
				continue
			}
			b := ino.opBytes(op)
			if i == k {
				b = b[:min(partial, len(b))]
			}
			if len(b) > 0 {
				if i < k {
					// A torn write's bytes are not a write that follows
					// the one before: recovery cuts them off.
					ino.lastWrite = len(content)
				}
				content = append(content, b...)
				ino.damaged = ino.damaged || op.misdirected
			}
		}
		ino.base, ino.shared = content, false
	}
	ino.ops = append(ino.ops[:0], ino.ops[k:]...)
	if len(ino.ops) == 0 && !ino.shared && slices.Equal(ino.base, ino.data) {
		ino.shared, ino.durLen, ino.base = true, len(ino.data), nil
	}
}

// crash applies the fate of the unsynced operations and leaves the file
// as a restarted process finds it.
func (ino *inode) crash(r Rand) fate {
	f, keep := drawFate(r, len(ino.ops))
	if f == fateNone {
		return f
	}
	partial := -1
	if f == fateTorn && !ino.ops[keep].truncate {
		partial = r.Intn(ino.ops[keep].n)
	}
	ino.settle(keep, partial)
	content := ino.durableContent()
	if !ino.shared {
		ino.data = content
	} else {
		ino.data = ino.data[:ino.durLen]
	}
	ino.ops = ino.ops[:0]
	ino.shared, ino.durLen, ino.base = true, len(ino.data), nil
	ino.durSeq = ino.seq
	return f
}

// dirOp is one change to a directory's names.
type dirOp struct {
	kind     uint8
	name, to string
	ino      *inode
}

const (
	opCreate uint8 = iota
	opRename
	opRemove
)

// dir is a directory: its names as the process sees them, and as they are
// durable, with the operations in between.
type dir struct {
	names, durable map[string]*inode
	ops            []dirOp
	seq, durSeq    uint64
	dirty          bool
}

func newDir() *dir {
	return &dir{names: map[string]*inode{}, durable: map[string]*inode{}}
}

func (op *dirOp) apply(names map[string]*inode) {
	switch op.kind {
	case opCreate:
		names[op.name] = op.ino
	case opRename:
		if ino, ok := names[op.name]; ok {
			delete(names, op.name)
			names[op.to] = ino
		}
	case opRemove:
		delete(names, op.name)
	}
}

func (d *dir) do(op dirOp) {
	switch op.kind {
	case opCreate:
		op.ino.links++
	case opRename:
		if old, ok := d.names[op.to]; ok && old != d.names[op.name] {
			old.links--
		}
	case opRemove:
		d.names[op.name].links--
	}
	op.apply(d.names)
	d.ops = append(d.ops, op)
	d.seq++
}

func (d *dir) persist(seq uint64) {
	k := int(seq - d.durSeq)
	if k <= 0 {
		return
	}
	for i := range k {
		d.ops[i].apply(d.durable)
	}
	d.ops = append(d.ops[:0], d.ops[k:]...)
	d.durSeq = seq
}

func (d *dir) crash(r Rand) fate {
	f, keep := drawFate(r, len(d.ops))
	if f == fateNone {
		return f
	}
	for i := range keep {
		d.ops[i].apply(d.durable)
	}
	d.ops = d.ops[:0]
	d.durSeq = d.seq
	d.names = maps.Clone(d.durable)
	return f
}

func (d *dir) sortedNames() []string {
	names := make([]string, 0, len(d.names))
	for name := range d.names {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
