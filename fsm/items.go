package fsm

import (
	"cmp"
	"fmt"
	"slices"
)

// A list's items are kept as a sequence of chunks of at most chunkItems
// items, so that an update or delete copies one chunk and the chunk index
// (about n/chunkItems slice headers), not the whole list, while staying
// copy-on-write: a frozen view (a Result's items, or a snapshot's) never
// changes, whatever is applied after it.
//
// The rules that make a frozen view immutable:
//   - An element at a position below a chunk's length is never written
//     again; a change to a chunk builds a new chunk.
//   - A chunk header in the index is replaced in place only to append to
//     the last chunk (the new header has the same elements and more); any
//     other change to the index builds a new index.
//   - A view remembers how many items it holds (n) and reads no further,
//     so what an append adds past its end stays invisible to it.
const chunkItems = 64

// items is a list's items in version order.
type items struct {
	chunks [][]Item // none empty
	n      int
}

// frozen returns a view that the list's later changes never reach.
func (s *items) frozen() items {
	return items{chunks: s.chunks[:len(s.chunks):len(s.chunks)], n: s.n}
}

// each calls f for every item in order, stopping early if f returns false.
func (s items) each(f func(Item) bool) {
	left := s.n
	for _, chunk := range s.chunks {
		if left == 0 {
			return
		}
		chunk = chunk[:min(len(chunk), left)]
		left -= len(chunk)
		for _, item := range chunk {
			if !f(item) {
				return
			}
		}
	}
}

// flat returns the items in a fresh slice.
func (s items) flat() []Item {
	out := make([]Item, 0, s.n)
	s.each(func(item Item) bool { out = append(out, item); return true })
	return out
}

// last returns the last item; the list must not be empty.
func (s *items) last() Item {
	chunk := s.chunks[len(s.chunks)-1]
	return chunk[len(chunk)-1]
}

// push appends an item whose version is above every other's.
func (s *items) push(item Item) {
	if k := len(s.chunks) - 1; k >= 0 && len(s.chunks[k]) < chunkItems {
		// Appending writes past the end of every frozen view.
		s.chunks[k] = append(s.chunks[k], item)
	} else {
		s.chunks = append(s.chunks, []Item{item})
	}
	s.n++
}

// position names an item by its chunk and its place in the chunk.
type position struct{ chunk, at int }

// find returns the position of the item with version, if present.
func (s *items) find(version uint64) (position, bool) {
	// The last chunk whose first item is at or below version.
	k, found := slices.BinarySearchFunc(s.chunks, version, func(chunk []Item, v uint64) int {
		return cmp.Compare(chunk[0].Version, v)
	})
	if !found {
		k--
	}
	if k < 0 {
		return position{}, false
	}
	at, found := slices.BinarySearchFunc(s.chunks[k], version, func(item Item, v uint64) int {
		return cmp.Compare(item.Version, v)
	})
	return position{chunk: k, at: at}, found
}

func (s *items) at(p position) Item { return s.chunks[p.chunk][p.at] }

// replace sets the item at p, copying its chunk and the index.
func (s *items) replace(p position, item Item) {
	chunk := slices.Clone(s.chunks[p.chunk])
	chunk[p.at] = item
	s.chunks = slices.Clone(s.chunks)
	s.chunks[p.chunk] = chunk
}

// remove deletes the item at p, copying its chunk and the index. A chunk
// left small is merged with the next one, so deletes do not leave the
// list in many tiny chunks.
func (s *items) remove(p position) {
	old := s.chunks[p.chunk]
	chunk := make([]Item, 0, len(old)-1)
	chunk = append(chunk, old[:p.at]...)
	chunk = append(chunk, old[p.at+1:]...)
	chunks := make([][]Item, 0, len(s.chunks))
	chunks = append(chunks, s.chunks[:p.chunk]...)
	rest := s.chunks[p.chunk+1:]
	if len(rest) > 0 && len(chunk) < chunkItems/4 && len(chunk)+len(rest[0]) <= chunkItems {
		chunk = append(chunk, rest[0]...)
		rest = rest[1:]
	}
	if len(chunk) > 0 {
		chunks = append(chunks, chunk)
	}
	s.chunks = append(chunks, rest...)
	s.n--
}

// removeEach removes the items for which gone returns true, copying only
// the chunks that lose one, and calls removed for each in order.
func (s *items) removeEach(gone func(Item) bool, removed func(Item)) int {
	chunks := make([][]Item, 0, len(s.chunks))
	count := 0
	for _, chunk := range s.chunks {
		var kept []Item
		changed := false
		for i, item := range chunk {
			if !gone(item) {
				if changed {
					kept = append(kept, item)
				}
				continue
			}
			if !changed {
				changed = true
				kept = make([]Item, i, len(chunk)-1)
				copy(kept, chunk[:i])
			}
			removed(item)
			count++
		}
		switch {
		case !changed:
			chunks = append(chunks, chunk)
		case len(kept) > 0:
			chunks = append(chunks, kept)
		}
	}
	s.chunks = chunks
	s.n -= count
	return count
}

// check verifies the chunk structure: no empty or oversized chunk, and n
// counting every item.
func (s *items) check() error {
	total := 0
	for i, chunk := range s.chunks {
		if len(chunk) == 0 || len(chunk) > chunkItems {
			return fmt.Errorf("chunk %d holds %d items (1..%d allowed)", i, len(chunk), chunkItems)
		}
		total += len(chunk)
	}
	if total != s.n {
		return fmt.Errorf("%d items in chunks, %d counted", total, s.n)
	}
	return nil
}
