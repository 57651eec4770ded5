package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
)

const benchEntryBytes = 100

// benchBatch returns count entries of benchEntryBytes from index first.
func benchBatch(first uint64, count int, data []byte) []raft.Entry {
	batch := make([]raft.Entry, count)
	for i := range batch {
		batch[i] = raft.Entry{Term: 1, Index: first + uint64(i), Data: data}
	}
	return batch
}

func benchmarkSave(b *testing.B, opts Options) {
	for _, batchSize := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batchSize), func(b *testing.B) {
			w, _ := mustOpen(b, b.TempDir(), opts)
			defer w.Close()
			data := make([]byte, benchEntryBytes)
			batch := benchBatch(1, batchSize, data)
			hs := raft.HardState{Term: 1, Vote: 1}
			b.SetBytes(int64(batchSize * benchEntryBytes))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				hs.Commit = batch[0].Index
				if err := w.Save(hs, batch); err != nil {
					b.Fatal(err)
				}
				for j := range batch {
					batch[j].Index += uint64(batchSize)
				}
			}
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkSave measures group commit: one write and one fsync per Save,
// whatever the batch size. Compare with BenchmarkRawFsync.
func BenchmarkSave(b *testing.B) { benchmarkSave(b, Options{}) }

// BenchmarkSaveNoSync is the same without fsync: the cost of encoding,
// checksumming and writing alone.
func BenchmarkSaveNoSync(b *testing.B) { benchmarkSave(b, Options{NoSync: true}) }

// BenchmarkRawFsync is the floor Save cannot beat: 100 bytes appended to a
// plain file and fsynced.
func BenchmarkRawFsync(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(b, err)
	defer f.Close()
	data := make([]byte, benchEntryBytes)
	b.SetBytes(benchEntryBytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecover measures Open on a log of 10,000 entries of 100 bytes.
func BenchmarkRecover(b *testing.B) {
	dir := b.TempDir()
	w, _ := mustOpen(b, dir, Options{NoSync: true})
	data := make([]byte, benchEntryBytes)
	for first := uint64(1); first <= 10000; first += 100 {
		require.NoError(b, w.Save(raft.HardState{Term: 1, Commit: first}, benchBatch(first, 100, data)))
	}
	require.NoError(b, w.Close())
	b.SetBytes(10000 * benchEntryBytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, st, err := Open(dir, Options{NoSync: true})
		if err != nil || len(st.Entries) != 10000 {
			b.Fatal(err, len(st.Entries))
		}
		w.Close()
	}
}
