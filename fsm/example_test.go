package fsm_test

import (
	"crypto/sha256"
	"fmt"

	"github.com/havenproject/haven/fsm"
	"github.com/vmihailenco/msgpack/v5"
)

// Leader election on a list: candidates push an item, the lowest version
// leads and is the fencing token, and when the leader's session ends its
// item is deleted and the next lowest leads.
func ExampleMachine_leaderElection() {
	m := fsm.New(fsm.Options{})
	var index uint64
	apply := func(cmd fsm.Command) (fsm.Result, []fsm.Event) {
		index++
		return m.Apply(index, fsm.Encode(cmd))
	}
	for _, id := range []string{"a", "b", "c"} {
		apply(fsm.OpenSession{ID: id, TokenHash: sha256.Sum256([]byte("secret of " + id)), TTLms: 5000})
	}

	const election = "/data/election/scheduler"
	leader := func() {
		items, _ := m.Read(election)
		fmt.Printf("leader %s with fencing token %d\n", items[0].Owner, items[0].Version)
	}
	for _, id := range []string{"b", "a", "c"} {
		address, _ := msgpack.Marshal(id + ".example:7000")
		result, _ := apply(fsm.Push{Session: id, Path: election, Data: address})
		fmt.Printf("%s pushed item %d; candidates: %d\n", id, result.Item.Version, len(result.Items()))
	}
	leader()

	// b's session expires: its item goes, in one entry, and watchers see it.
	_, events := apply(fsm.CloseSession{ID: "b", Expired: true})
	for _, event := range events {
		fmt.Printf("event %s %s item %d at version %d\n", event.Kind, event.Path, event.Item.Version, event.Version)
	}
	leader()

	// Output:
	// b pushed item 4; candidates: 1
	// a pushed item 5; candidates: 2
	// c pushed item 6; candidates: 3
	// leader b with fencing token 4
	// event delete /data/election/scheduler item 4 at version 7
	// leader a with fencing token 5
}
