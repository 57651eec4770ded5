// Package simfs is the simulator's file system: the disk raft/wal runs on in
// the simulator, in memory, driven by the simulation's seeded random
// generator, and as unkind as a real disk is allowed to be.
//
// Every file and every directory keeps two versions: what the process sees
// (all it wrote) and what is durable (what would survive a power loss). A
// write is durable once a File.Sync that followed it has completed; a
// create, rename or remove once a SyncDir of its directory has. A sync
// completes when the host says so (CompleteSyncs), after the simulated
// fsync latency: until then a crash can still lose what it covers, as a
// real crash can during an fsync that has not returned. Directories
// themselves (Mkdir) are durable at once.
//
// At a crash (Crash), what is not durable meets one of three fates, drawn
// as the simulator's disk always drew them: lost (nothing of it survives),
// kept (all of it), or torn (a prefix of the operations in the order they
// were made, and of the next write a prefix of its bytes). Each file and
// each directory draws its own fate. Nothing synced is ever lost.
//
// Two rare faults damage what is durable, so that the WAL's checks are put
// to the test: a bit flip in synced data (at a crash), and a misdirected
// write, whose bytes land past the place they were meant for, leaving a gap
// of zeros. A bit flip never hits a file's last write: no checksum can tell
// that from a torn write, which recovery rightly cuts off (and the WAL's
// format leaves it no other way: the last record of its newest segment is
// where a crash tears). Damaged reports whether damage reached durable data,
// so that the host can tell a WAL that refused damaged files (right) from
// one that refuses what a crash alone left (a bug).
package simfs

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/havenproject/haven/raft/wal"
)

// Rand is the part of the simulator's generator the file system draws from.
type Rand interface {
	Intn(n int) int
	Chance(p float64) bool
}

// Faults are the rates of the damaging faults; the zero value injects none.
type Faults struct {
	// FlipPerCrash is the probability that a crash also flips one bit of
	// synced data in one file.
	FlipPerCrash float64
	// MisdirectPerWrite is the probability that a write lands at a wrong
	// offset.
	MisdirectPerWrite float64
	// Allow, if set, is asked before each damaging fault drawn is
	// injected: the host can keep damage to as many disks as it can lose.
	Allow func() bool
}

func (f *FS) allowed() bool { return f.faults.Allow == nil || f.faults.Allow() }

// FS is one node's disk. It is not safe for concurrent use: the simulator
// runs everything on one goroutine.
type FS struct {
	rng    Rand
	faults Faults
	dirs   map[string]*dir
	// syncs are the fsyncs issued and not yet completed, in order.
	syncs []syncIntent
	// dirtyFiles and dirtyDirs hold what has operations not yet durable
	// (and perhaps some that no longer have), so that the host's questions
	// after every fsync cost nothing like a walk of every file.
	dirtyFiles []*inode
	dirtyDirs  []*dir

	// Flips and Misdirected count the damaging faults injected.
	Flips, Misdirected int
}

var _ wal.FS = (*FS)(nil)

// New returns an empty file system drawing from rng.
func New(rng Rand, faults Faults) *FS {
	// The roots exist from the start, as they do on a real machine.
	return &FS{rng: rng, faults: faults, dirs: map[string]*dir{"/": newDir(), ".": newDir()}}
}

type syncIntent struct {
	ino *inode
	dir *dir
	seq uint64 // make everything up to this operation durable
}

func (f *FS) fileChanged(ino *inode) {
	if !ino.dirty {
		ino.dirty = true
		f.dirtyFiles = append(f.dirtyFiles, ino)
	}
}

func (f *FS) dirChanged(d *dir) {
	if !d.dirty {
		d.dirty = true
		f.dirtyDirs = append(f.dirtyDirs, d)
	}
}

// forgetClean drops from the dirty lists what has nothing pending.
func (f *FS) forgetClean() {
	files := f.dirtyFiles[:0]
	for _, ino := range f.dirtyFiles {
		if ino.dirty = len(ino.ops) > 0; ino.dirty {
			files = append(files, ino)
		}
	}
	clear(f.dirtyFiles[len(files):])
	f.dirtyFiles = files
	dirs := f.dirtyDirs[:0]
	for _, d := range f.dirtyDirs {
		if d.dirty = len(d.ops) > 0; d.dirty {
			dirs = append(dirs, d)
		}
	}
	clear(f.dirtyDirs[len(dirs):])
	f.dirtyDirs = dirs
}

func (f *FS) split(name string) (*dir, string, error) {
	d, ok := f.dirs[filepath.Dir(name)]
	if !ok {
		return nil, "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return d, filepath.Base(name), nil
}

// Mkdir creates a directory; it is durable at once.
func (f *FS) Mkdir(name string) error {
	name = filepath.Clean(name)
	if _, ok := f.dirs[name]; ok {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	parent := filepath.Dir(name)
	if _, ok := f.dirs[parent]; !ok && parent != name {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrNotExist}
	}
	f.dirs[name] = newDir()
	return nil
}

// List returns the names of the files in a directory, sorted.
func (f *FS) List(name string) ([]string, error) {
	d, ok := f.dirs[filepath.Clean(name)]
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return d.sortedNames(), nil
}

// ReadFile returns a copy of a file's content as the process sees it.
func (f *FS) ReadFile(name string) ([]byte, error) {
	d, base, err := f.split(name)
	if err != nil {
		return nil, err
	}
	ino, ok := d.names[base]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(ino.data), nil
}

// Create creates or truncates a file.
func (f *FS) Create(name string) (wal.File, error) {
	f.issue()
	d, base, err := f.split(name)
	if err != nil {
		return nil, err
	}
	if ino, ok := d.names[base]; ok {
		ino.truncate(0)
		f.fileChanged(ino)
		return &file{fs: f, ino: ino}, nil
	}
	ino := newInode()
	d.do(dirOp{kind: opCreate, name: base, ino: ino})
	f.dirChanged(d)
	return &file{fs: f, ino: ino}, nil
}

// OpenAppend opens an existing file.
func (f *FS) OpenAppend(name string) (wal.File, error) {
	d, base, err := f.split(name)
	if err != nil {
		return nil, err
	}
	ino, ok := d.names[base]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &file{fs: f, ino: ino}, nil
}

// Rename renames a file within its directory (all the WAL does).
func (f *FS) Rename(oldName, newName string) error {
	f.issue()
	d, oldBase, err := f.split(oldName)
	if err != nil {
		return err
	}
	d2, newBase, err := f.split(newName)
	if err != nil {
		return err
	}
	if d2 != d {
		return fmt.Errorf("simfs: rename %s to %s crosses directories", oldName, newName)
	}
	ino, ok := d.names[oldBase]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldName, Err: fs.ErrNotExist}
	}
	d.do(dirOp{kind: opRename, name: oldBase, to: newBase, ino: ino})
	f.dirChanged(d)
	return nil
}

// Remove removes a file.
func (f *FS) Remove(name string) error {
	f.issue()
	d, base, err := f.split(name)
	if err != nil {
		return err
	}
	if _, ok := d.names[base]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	d.do(dirOp{kind: opRemove, name: base})
	f.dirChanged(d)
	return nil
}

// SyncDir issues an fsync of a directory; it completes at CompleteSyncs.
func (f *FS) SyncDir(name string) error {
	d, ok := f.dirs[filepath.Clean(name)]
	if !ok {
		return &fs.PathError{Op: "sync", Path: name, Err: fs.ErrNotExist}
	}
	f.syncs = append(f.syncs, syncIntent{dir: d, seq: d.seq})
	return nil
}

// issue is called before every operation that changes a file or a name.
// The WAL's fsyncs block in a real process, so an operation issued after
// one means it had completed: only the fsyncs issued last are still in
// flight while the host waits for them.
func (f *FS) issue() {
	if len(f.syncs) > 0 {
		f.CompleteSyncs()
	}
}

// SyncPending reports whether an fsync was issued that has not completed.
func (f *FS) SyncPending() bool { return len(f.syncs) > 0 }

// CompleteSyncs completes every fsync issued: what each covered, the
// writes or names before it, is durable now.
func (f *FS) CompleteSyncs() {
	for _, s := range f.syncs {
		if s.ino != nil {
			s.ino.persist(s.seq)
		} else {
			s.dir.persist(s.seq)
		}
	}
	clear(f.syncs)
	f.syncs = f.syncs[:0]
	f.forgetClean()
}

// Unsynced reports whether anything the process wrote could still be lost
// in a crash: a write, a create or a rename not yet durable. (A removal
// that is not durable loses nothing: at worst the file comes back.)
func (f *FS) Unsynced() bool {
	writes, other := f.UnsyncedWrites()
	return writes > 0 || other
}

// UnsyncedWrites counts the writes to existing files not yet durable, and
// reports whether anything else is (a create, a rename, a truncation).
func (f *FS) UnsyncedWrites() (writes int, other bool) {
	for _, d := range f.dirtyDirs {
		for i := range d.ops {
			other = other || d.ops[i].kind != opRemove
		}
	}
	for _, ino := range f.dirtyFiles {
		if ino.links == 0 {
			continue // removed: nothing of it is the process's any more
		}
		for i := range ino.ops {
			if ino.ops[i].truncate {
				other = true
			} else {
				writes++
			}
		}
	}
	return writes, other
}

// Damaged reports whether a fault damaged durable data in a file that still
// exists.
func (f *FS) Damaged() bool {
	for _, d := range f.dirs {
		for _, ino := range d.names {
			if ino.damaged {
				return true
			}
		}
	}
	return false
}

// CrashReport says what a crash did.
type CrashReport struct {
	// Lost, Torn and Kept count the files and directories whose unsynced
	// operations met each fate.
	Lost, Torn, Kept int
	// Flipped names the file a bit flip hit, if any.
	Flipped string
}

// Crash is a power loss: what was not durable is lost, torn or kept, and
// the process that restarts sees only what is durable now.
func (f *FS) Crash() CrashReport {
	var rep CrashReport
	clear(f.syncs)
	f.syncs = f.syncs[:0]
	dirNames := make([]string, 0, len(f.dirs))
	for name := range f.dirs {
		dirNames = append(dirNames, name)
	}
	slices.Sort(dirNames)
	for _, dn := range dirNames {
		d := f.dirs[dn]
		f.count(&rep, d.crash(f.rng))
		// The files the directory durably names survive; each keeps what
		// its own fate leaves it.
		for _, name := range d.sortedNames() {
			f.count(&rep, d.names[name].crash(f.rng))
		}
	}
	for _, ino := range f.dirtyFiles {
		ino.links = 0
	}
	for _, dn := range dirNames {
		for _, ino := range f.dirs[dn].names {
			ino.links = 0
		}
	}
	for _, dn := range dirNames {
		for _, ino := range f.dirs[dn].names {
			ino.links++
		}
	}
	for _, ino := range f.dirtyFiles {
		if ino.links == 0 {
			ino.ops = ino.ops[:0] // a file no name reaches is gone
		}
	}
	f.forgetClean()
	if f.faults.FlipPerCrash > 0 && f.rng.Chance(f.faults.FlipPerCrash) && f.allowed() {
		rep.Flipped = f.flip(dirNames)
	}
	return rep
}

func (f *FS) count(rep *CrashReport, fate fate) {
	switch fate {
	case fateLost:
		rep.Lost++
	case fateTorn:
		rep.Torn++
	case fateKept:
		rep.Kept++
	}
}

// flip flips one bit of synced data, before the start of its file's last
// write, in a file drawn among those that have such data.
func (f *FS) flip(dirNames []string) string {
	type target struct {
		path string
		ino  *inode
	}
	var targets []target
	for _, dn := range dirNames {
		d := f.dirs[dn]
		for _, name := range d.sortedNames() {
			if ino := d.names[name]; ino.lastWrite > 0 {
				targets = append(targets, target{filepath.Join(dn, name), ino})
			}
		}
	}
	if len(targets) == 0 {
		return ""
	}
	t := targets[f.rng.Intn(len(targets))]
	pos := f.rng.Intn(t.ino.lastWrite)
	t.ino.data[pos] ^= 1 << f.rng.Intn(8)
	t.ino.damaged = true
	f.Flips++
	return t.path
}

// file is an open file. Writes append; the WAL opens files for nothing else.
type file struct {
	fs     *FS
	ino    *inode
	closed bool
}

func (h *file) Write(p []byte) (int, error) {
	if h.closed {
		return 0, fs.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	h.fs.issue()
	gap := 0
	if m := h.fs.faults.MisdirectPerWrite; m > 0 && h.fs.rng.Chance(m) && h.fs.allowed() {
		// The bytes land past where they belong; the place they were
		// meant for reads as zeros.
		gap = 1 + h.fs.rng.Intn(64)
		h.fs.Misdirected++
	}
	h.ino.write(p, gap)
	h.fs.fileChanged(h.ino)
	return len(p), nil
}

func (h *file) Sync() error {
	if h.closed {
		return fs.ErrClosed
	}
	h.fs.syncs = append(h.fs.syncs, syncIntent{ino: h.ino, seq: h.ino.seq})
	return nil
}

func (h *file) Truncate(size int64) error {
	if h.closed {
		return fs.ErrClosed
	}
	if size < 0 || size > int64(len(h.ino.data)) {
		return fmt.Errorf("simfs: truncate to %d of a file of %d bytes", size, len(h.ino.data))
	}
	h.fs.issue()
	h.ino.truncate(int(size))
	h.fs.fileChanged(h.ino)
	return nil
}

func (h *file) Close() error {
	if h.closed {
		return fs.ErrClosed
	}
	h.closed = true
	return nil
}
