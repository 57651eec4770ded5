package client

import (
	"context"

	"github.com/havenproject/haven/fsm"
)

// ReadOption changes a Get.
type ReadOption func(*request)

// Stale reads the node's own state without asking the leader: possibly
// stale, never older than what this client has seen (PROTOCOL.md, "Reads").
func Stale() ReadOption {
	return func(r *request) { r.set("consistency", "stale") }
}

// WriteOption changes a Push, Update or Delete.
type WriteOption func(*request)

// IfVersion makes the write happen only if the list's version still equals
// v, else it fails with Conflict (an etag test-and-set). IfVersion(0) pushes
// only onto a list never written.
func IfVersion(v uint64) WriteOption {
	return func(r *request) { r.set("if_version", v) }
}

// Written is the answer to a push or an update: the item after the write
// and the list it is in.
type Written struct {
	Item Item `json:"item"`
	List
}

// Get reads the list at path. By default the read is linearizable; it is
// sent again (on another node if need be) until ctx ends while the cluster
// answers Unavailable.
func (c *Client) Get(ctx context.Context, path string, opts ...ReadOption) (List, error) {
	req := newRequest("query").set("type", "read").set("path", path)
	for _, opt := range opts {
		opt(req)
	}
	a, _, err := c.do(ctx, req, true)
	if err != nil {
		return List{}, err
	}
	return List{Items: a.Items, Version: a.Version}, nil
}

// Push appends an item holding data to the list at path, owned by this
// session (it vanishes when the session ends). data is any value msgpack
// can encode (struct fields are named by their json tags), or a
// msgpack.RawMessage sent as it is.
//
// A push is not sent again once it may have reached a node: if the
// connection breaks before the answer, the error is Unavailable and the item
// may exist (look for an item whose Owner is SessionID).
func (c *Client) Push(ctx context.Context, path string, data any, opts ...WriteOption) (Written, error) {
	raw, err := encodeData(data)
	if err != nil {
		return Written{}, errorf(fsm.InvalidParameter, "create", "data: %v", err)
	}
	req := newRequest("query").set("type", "create").set("path", path).set("data", raw)
	for _, opt := range opts {
		opt(req)
	}
	return c.written(ctx, req)
}

// Update replaces the data of the item whose version is item, at path.
func (c *Client) Update(ctx context.Context, path string, item uint64, data any, opts ...WriteOption) (Written, error) {
	raw, err := encodeData(data)
	if err != nil {
		return Written{}, errorf(fsm.InvalidParameter, "update", "data: %v", err)
	}
	req := newRequest("query").set("type", "update").set("path", path).set("item", item).set("data", raw)
	for _, opt := range opts {
		opt(req)
	}
	return c.written(ctx, req)
}

func (c *Client) written(ctx context.Context, req *request) (Written, error) {
	a, _, err := c.do(ctx, req, false)
	if err != nil {
		return Written{}, err
	}
	w := Written{List: List{Items: a.Items, Version: a.Version}}
	if a.Item != nil {
		w.Item = *a.Item
	}
	return w, nil
}

// Delete removes the item whose version is item from the list at path.
func (c *Client) Delete(ctx context.Context, path string, item uint64, opts ...WriteOption) (List, error) {
	req := newRequest("query").set("type", "delete").set("path", path).set("item", item)
	for _, opt := range opts {
		opt(req)
	}
	a, _, err := c.do(ctx, req, false)
	if err != nil {
		return List{}, err
	}
	return List{Items: a.Items, Version: a.Version}, nil
}

// DiscoverQuorum names the address of the leader serving path.
func (c *Client) DiscoverQuorum(ctx context.Context, path string) (string, error) {
	a, _, err := c.do(ctx, newRequest("discover").set("type", "quorum").set("path", path), true)
	if err != nil {
		return "", err
	}
	return a.Location, nil
}

// DiscoverNode gives the client address of the node with id.
func (c *Client) DiscoverNode(ctx context.Context, id string) (string, error) {
	a, _, err := c.do(ctx, newRequest("discover").set("type", "uuid").set("uuid", id), true)
	if err != nil {
		return "", err
	}
	return a.Location, nil
}

// DiscoverLocations gives the location the node names (havend: the
// leader's address, or its own while there is none) and every member's
// address.
func (c *Client) DiscoverLocations(ctx context.Context) (self string, all []string, err error) {
	a, _, err := c.do(ctx, newRequest("discover").set("type", "location"), true)
	if err != nil {
		return "", nil, err
	}
	return a.Location, a.Locations, nil
}

// BecomeKind is a change of the cluster's membership (PROTOCOL.md, "become").
type BecomeKind string

const (
	// BecomeLearner adds node, at address, as a non-voting member.
	BecomeLearner BecomeKind = "learner"
	// BecomeVoter promotes a learner that has caught up.
	BecomeVoter BecomeKind = "voter"
	// BecomeRemoved removes node.
	BecomeRemoved BecomeKind = "removed"
	// BecomeLeader transfers leadership to node.
	BecomeLeader BecomeKind = "leader"
)

// Become asks the cluster to change node: see BecomeKind. address is needed
// for BecomeLearner only.
func (c *Client) Become(ctx context.Context, kind BecomeKind, node, address string) error {
	req := newRequest("become").set("type", string(kind)).set("node", node)
	if address != "" {
		req.set("address", address)
	}
	_, _, err := c.do(ctx, req, false)
	return err
}
