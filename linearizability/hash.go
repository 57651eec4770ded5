package linearizability

// Porcupine caches the states it has reached to avoid searching the same
// place twice; a model's Hash narrows each cache lookup to a few Equal calls.
// FNV-1a is enough for that and, written out here, allocates nothing.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvUint64(h, v uint64) uint64 {
	for range 8 {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

// fnvString hashes the length first, so that ("ab", "c") and ("a", "bc")
// hash differently.
func fnvString(h uint64, s string) uint64 {
	h = fnvUint64(h, uint64(len(s)))
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}
