package explore

import (
	"hash/maphash"
	"reflect"
	"sync"
	"unsafe"
)

// The explorer branches: from one state it tries every action, so it needs
// copies of whole clusters, Raft cores included. The cores are plain data
// (no goroutines, channels or clocks: the sans-IO rule is what makes this
// possible), so a deep copy of their memory is exact. It reads unexported
// fields through their addresses, which is why it lives here and not in any
// production package: it is a test instrument, like a debugger.
//
// The same walk hashes a state: equal states (field by field, maps without
// regard to order) hash equal, so the search explores each state once.
//
// Speed matters (every successor is a copy), so each type gets a plan once:
// memory without pointers is copied and hashed as bytes, and only pointers,
// slices, maps, interfaces and strings are walked. Byte slices whose
// length equals their capacity are shared, not copied: nothing in the cores
// writes into a byte slice in place (entries, contexts and snapshots are
// immutable once made), and a full one cannot be appended to in place.

type plan struct {
	t    reflect.Type
	kind reflect.Kind
	size uintptr
	// flat: no pointers at all; copy and hash the bytes.
	flat bool
	// runs are a struct's parts in order: flat byte ranges, or one field
	// with its own plan.
	runs []run
	elem *plan // pointer, slice, array and map element
	key  *plan // map key
}

type run struct {
	offset, size uintptr
	p            *plan // nil: flat bytes
}

var (
	plansMu sync.Mutex
	plans   = map[reflect.Type]*plan{}
)

// planOf returns t's plan, making it (and its parts') on first use.
func planOf(t reflect.Type) *plan {
	plansMu.Lock()
	defer plansMu.Unlock()
	return buildPlan(t)
}

func buildPlan(t reflect.Type) *plan {
	if p, ok := plans[t]; ok {
		return p
	}
	p := &plan{t: t, kind: t.Kind(), size: t.Size()}
	// Stored before it is filled in, so that recursive types terminate.
	plans[t] = p
	switch p.kind {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		p.flat = true
	case reflect.Array:
		p.elem = buildPlan(t.Elem())
		p.flat = p.elem.flat
	case reflect.Struct:
		p.flat = true
		for i := range t.NumField() {
			f := t.Field(i)
			fp := buildPlan(f.Type)
			if fp.flat {
				if n := len(p.runs); n > 0 && p.runs[n-1].p == nil && p.runs[n-1].offset+p.runs[n-1].size == f.Offset {
					p.runs[n-1].size += f.Type.Size()
				} else {
					p.runs = append(p.runs, run{offset: f.Offset, size: f.Type.Size()})
				}
				continue
			}
			p.flat = false
			p.runs = append(p.runs, run{offset: f.Offset, size: f.Type.Size(), p: fp})
		}
	case reflect.Pointer, reflect.Slice:
		p.elem = buildPlan(t.Elem())
	case reflect.Map:
		p.key, p.elem = buildPlan(t.Key()), buildPlan(t.Elem())
	case reflect.String, reflect.Func, reflect.Interface:
	default:
		panic("explore: cannot copy or hash a " + t.String())
	}
	return p
}

func bytesAt(p unsafe.Pointer, n uintptr) []byte { return unsafe.Slice((*byte)(p), n) }

// deepCopy returns a copy of *src that shares no mutable memory with it.
func deepCopy[T any](src *T) *T {
	dst := new(T)
	c := copier{seen: map[unsafe.Pointer]unsafe.Pointer{}}
	c.copy(planOf(reflect.TypeFor[T]()), unsafe.Pointer(dst), unsafe.Pointer(src))
	return dst
}

type copier struct {
	// seen maps an original object to its copy, so that two pointers to
	// one object still point to one object in the copy.
	seen map[unsafe.Pointer]unsafe.Pointer
}

// copy copies the value of plan p at src into the zeroed memory at dst.
// Pointers are stored through typed Go assignments, so the garbage
// collector's write barriers see them.
func (c *copier) copy(p *plan, dst, src unsafe.Pointer) {
	if p.flat {
		copy(bytesAt(dst, p.size), bytesAt(src, p.size))
		return
	}
	switch p.kind {
	case reflect.String:
		*(*string)(dst) = *(*string)(src)
	case reflect.Func:
		*(*unsafe.Pointer)(dst) = *(*unsafe.Pointer)(src)
	case reflect.Pointer:
		old := *(*unsafe.Pointer)(src)
		if old == nil {
			return
		}
		if n, ok := c.seen[old]; ok {
			*(*unsafe.Pointer)(dst) = n
			return
		}
		n := reflect.New(p.elem.t).UnsafePointer()
		c.seen[old] = n
		c.copy(p.elem, n, old)
		*(*unsafe.Pointer)(dst) = n
	case reflect.Struct:
		for _, r := range p.runs {
			if r.p == nil {
				copy(bytesAt(unsafe.Add(dst, r.offset), r.size), bytesAt(unsafe.Add(src, r.offset), r.size))
			} else {
				c.copy(r.p, unsafe.Add(dst, r.offset), unsafe.Add(src, r.offset))
			}
		}
	case reflect.Array:
		for i := range p.t.Len() {
			off := uintptr(i) * p.elem.size
			c.copy(p.elem, unsafe.Add(dst, off), unsafe.Add(src, off))
		}
	case reflect.Slice:
		s := (*sliceHeader)(src)
		if s.data == nil {
			return
		}
		if p.elem.kind == reflect.Uint8 && s.len == s.cap {
			*(*sliceHeader)(dst) = *s
			return
		}
		n := reflect.MakeSlice(p.t, s.len, s.len).UnsafePointer()
		if p.elem.flat {
			copy(bytesAt(n, uintptr(s.len)*p.elem.size), bytesAt(s.data, uintptr(s.len)*p.elem.size))
		} else {
			for i := range s.len {
				off := uintptr(i) * p.elem.size
				c.copy(p.elem, unsafe.Add(n, off), unsafe.Add(s.data, off))
			}
		}
		d := (*sliceHeader)(dst)
		d.data, d.len, d.cap = n, s.len, s.len
	case reflect.Map:
		m := reflect.NewAt(p.t, src).Elem()
		if m.IsNil() {
			return
		}
		out := reflect.MakeMapWithSize(p.t, m.Len())
		it := m.MapRange()
		k, v := reflect.New(p.key.t).Elem(), reflect.New(p.elem.t).Elem()
		for it.Next() {
			k.SetIterKey(it)
			v.SetIterValue(it)
			kc, vc := reflect.New(p.key.t), reflect.New(p.elem.t)
			c.copy(p.key, kc.UnsafePointer(), k.Addr().UnsafePointer())
			c.copy(p.elem, vc.UnsafePointer(), v.Addr().UnsafePointer())
			out.SetMapIndex(kc.Elem(), vc.Elem())
		}
		reflect.NewAt(p.t, dst).Elem().Set(out)
	case reflect.Interface:
		iv := reflect.NewAt(p.t, src).Elem()
		if iv.IsNil() {
			return
		}
		e := reflect.New(iv.Elem().Type()).Elem()
		e.Set(iv.Elem())
		ec := reflect.New(e.Type())
		c.copy(planOf(e.Type()), ec.UnsafePointer(), e.Addr().UnsafePointer())
		reflect.NewAt(p.t, dst).Elem().Set(ec.Elem())
	}
}

// sliceHeader is the memory layout of a Go slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

var hashSeed = maphash.MakeSeed()

// stateHash hashes *v by value: pointers by what they point to, slices by
// their elements (not their capacity), maps independently of order.
func stateHash[T any](v *T) uint64 {
	return hashAt(planOf(reflect.TypeFor[T]()), unsafe.Pointer(v), 0)
}

// mix is a 64-bit finalizer (splitmix64): it spreads a combined value so
// that sums of element hashes (used for maps) do not collide by accident.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func combine(acc, x uint64) uint64 { return mix(acc*0x9e3779b97f4a7c15 + x + 1) }

func hashAt(p *plan, at unsafe.Pointer, depth int) uint64 {
	if depth > 64 {
		panic("explore: state too deep to hash (a cycle?): " + p.t.String())
	}
	if p.flat {
		return maphash.Bytes(hashSeed, bytesAt(at, p.size))
	}
	acc := uint64(p.kind)
	switch p.kind {
	case reflect.String:
		return combine(acc, maphash.String(hashSeed, *(*string)(at)))
	case reflect.Func:
		// Code, not state.
		return acc
	case reflect.Pointer:
		ptr := *(*unsafe.Pointer)(at)
		if ptr == nil {
			return acc
		}
		return combine(acc, hashAt(p.elem, ptr, depth+1))
	case reflect.Struct:
		for _, r := range p.runs {
			if r.p == nil {
				acc = combine(acc, maphash.Bytes(hashSeed, bytesAt(unsafe.Add(at, r.offset), r.size)))
			} else {
				acc = combine(acc, hashAt(r.p, unsafe.Add(at, r.offset), depth+1))
			}
		}
		return acc
	case reflect.Array:
		for i := range p.t.Len() {
			acc = combine(acc, hashAt(p.elem, unsafe.Add(at, uintptr(i)*p.elem.size), depth+1))
		}
		return acc
	case reflect.Slice:
		s := (*sliceHeader)(at)
		acc = combine(acc, uint64(s.len))
		if s.len == 0 {
			return acc
		}
		if p.elem.flat {
			return combine(acc, maphash.Bytes(hashSeed, bytesAt(s.data, uintptr(s.len)*p.elem.size)))
		}
		for i := range s.len {
			acc = combine(acc, hashAt(p.elem, unsafe.Add(s.data, uintptr(i)*p.elem.size), depth+1))
		}
		return acc
	case reflect.Map:
		m := reflect.NewAt(p.t, at).Elem()
		var sum uint64
		it := m.MapRange()
		k, v := reflect.New(p.key.t).Elem(), reflect.New(p.elem.t).Elem()
		for it.Next() {
			k.SetIterKey(it)
			v.SetIterValue(it)
			sum += mix(combine(hashAt(p.key, k.Addr().UnsafePointer(), depth+1), hashAt(p.elem, v.Addr().UnsafePointer(), depth+1)))
		}
		return combine(combine(acc, uint64(m.Len())), sum)
	case reflect.Interface:
		iv := reflect.NewAt(p.t, at).Elem()
		if iv.IsNil() {
			return acc
		}
		e := reflect.New(iv.Elem().Type()).Elem()
		e.Set(iv.Elem())
		acc = combine(acc, maphash.String(hashSeed, e.Type().String()))
		return combine(acc, hashAt(planOf(e.Type()), e.Addr().UnsafePointer(), depth+1))
	}
	panic("explore: cannot hash a " + p.t.String())
}
