package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto/client"
)

var endpoints = []string{"127.0.0.1:7401", "127.0.0.1:7402", "127.0.0.1:7403"}

func Example() {
	ctx := context.Background()
	c, err := client.Connect(ctx, client.Config{Endpoints: endpoints, TTL: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	// Announce this service; the item lives as long as the session.
	w, err := c.Push(ctx, "/data/services/api", map[string]any{"addr": "10.0.0.7:8080"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered as item", w.Item.Version)

	list, err := c.Get(ctx, "/data/services/api", client.Stale())
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range list.Items {
		v, _ := it.Value()
		fmt.Println(it.Version, it.Owner, v)
	}
}

func ExampleClient_Watch() {
	ctx := context.Background()
	c, err := client.Connect(ctx, client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	w, err := c.Watch(ctx, "/data/services/api")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("now", len(w.Items), "items at version", w.Version)
	// The stream survives the failure of the client's node.
	for ev, err := range w.All(ctx) {
		if err != nil {
			log.Fatal(err) // the session ended
		}
		if ev.Kind == client.KindReset {
			fmt.Println("missed too much; the list is now", ev.Items)
			continue
		}
		fmt.Println(ev.Kind, ev.Item.Version, "at", ev.Version)
	}
}

func ExampleIfVersion() {
	ctx := context.Background()
	c, err := client.Connect(ctx, client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	list, _ := c.Get(ctx, "/data/config")
	_, err = c.Push(ctx, "/data/config", "v2", client.IfVersion(list.Version))
	if errors.Is(err, client.ErrConflict) {
		fmt.Println("someone changed the list first")
	}
	var herr *client.Error
	if errors.As(err, &herr) && herr.Code == fsm.Unavailable {
		fmt.Println("no quorum; try again:", herr.Message)
	}
}

func ExampleElection() {
	ctx := context.Background()
	c, err := client.Connect(ctx, client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	e := client.NewElection(c, "/data/election/scheduler")
	token, err := e.Campaign(ctx, "worker-7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leading with fencing token", token)
	select {
	case <-e.Lost():
		fmt.Println("lost leadership: the session ended")
	case <-time.After(time.Minute):
		_ = e.Resign(ctx)
	}
}

func ExampleMutex() {
	ctx := context.Background()
	c, err := client.Connect(ctx, client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	m := client.NewMutex(c, "/data/locks/backup")
	token, err := m.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Unlock(ctx)
	fmt.Println("holding the lock; pass token", token, "to the storage so it can refuse older holders")
}
