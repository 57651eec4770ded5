package session

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The expiry heap against a sorted slice, over random pushes and pops:
// every pop is the smallest entry left, by time then session id. A heap
// that sifts a larger child up hides a due session under one not yet due,
// and its session ends late (the sixth blind campaign's
// expiry-heap-wrong-child, which only the simulator's dead-session bound
// saw, by milliseconds).
func TestExpiryHeapPopsInOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	var h expiryHeap
	var model []expiry
	order := func(a, b expiry) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return strings.Compare(a.session, b.session)
	}
	for step := range 5000 {
		if r.IntN(3) > 0 || len(model) == 0 {
			e := expiry{at: int64(r.IntN(500)), session: fmt.Sprintf("s%d", r.IntN(1000))}
			h.push(e)
			model = append(model, e)
			continue
		}
		slices.SortFunc(model, order)
		got := h.pop()
		require.Equal(t, model[0], got, "step %d: pop", step)
		model = model[1:]
		require.Len(t, h, len(model))
	}
}
