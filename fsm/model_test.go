package fsm

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// model is the machine written the most obvious way: linear scans, no
// indexes, no copy-on-write. The property tests check that Machine, for all
// its indexes and sharing, behaves exactly like it.
type model struct {
	maxItemBytes int
	sessions     map[string]SessionInfo // Items is not kept here; see info
	lists        map[string]*modelList
	renewalIndex uint64
	renewalTerm  uint64
}

type modelList struct {
	version uint64
	items   []Item
}

func newModel(maxItemBytes int) *model {
	return &model{maxItemBytes: maxItemBytes, sessions: map[string]SessionInfo{}, lists: map[string]*modelList{}}
}

func refused(code Code) (Result, []Event) { return Result{Code: code}, nil }

// info is a session with its item count, counted the slow way.
func (md *model) info(id string) SessionInfo {
	info := md.sessions[id]
	for _, l := range md.lists {
		for _, it := range l.items {
			if it.Owner == id {
				info.Items++
			}
		}
	}
	return info
}

func (md *model) listVersion(path string) uint64 {
	if l := md.lists[path]; l != nil {
		return l.version
	}
	return 0
}

func (md *model) apply(index uint64, cmd Command) (Result, []Event) {
	switch c := cmd.(type) {
	case Noop:
		return Result{Code: OK}, nil
	case OpenSession:
		if err := validateSessionID([]byte(c.ID)); err != nil || c.TTLms == 0 || c.TokenHash == ([32]byte{}) {
			return refused(InvalidParameter)
		}
		if _, ok := md.sessions[c.ID]; ok {
			return refused(Conflict)
		}
		for _, s := range md.sessions {
			if s.TokenHash == c.TokenHash {
				return refused(Conflict)
			}
		}
		md.sessions[c.ID] = SessionInfo{ID: c.ID, TokenHash: c.TokenHash, TTLms: c.TTLms, Opened: index}
		return Result{Code: OK, Session: md.info(c.ID)}, nil
	case CloseSession:
		if _, ok := md.sessions[c.ID]; !ok {
			return refused(SessionExpired)
		}
		ended := md.info(c.ID)
		var events []Event
		paths := make([]string, 0, len(md.lists))
		for path := range md.lists {
			paths = append(paths, path)
		}
		slices.Sort(paths)
		for _, path := range paths {
			l := md.lists[path]
			var kept []Item
			for _, it := range l.items {
				if it.Owner == c.ID {
					events = append(events, Event{Path: path, Version: index, Kind: EventDelete, Item: it})
				} else {
					kept = append(kept, it)
				}
			}
			if len(kept) != len(l.items) {
				l.items, l.version = kept, index
			}
		}
		delete(md.sessions, c.ID)
		return Result{Code: OK, Session: ended, Expired: c.Expired}, events
	case Push:
		if ValidatePath(c.Path) != nil {
			return refused(InvalidParameter)
		}
		if err := ValidateData(c.Data, md.maxItemBytes); err != nil {
			return refused(CodeOf(err))
		}
		if _, ok := md.sessions[c.Session]; !ok {
			return refused(SessionExpired)
		}
		if c.IfVersion != nil && *c.IfVersion != md.listVersion(c.Path) {
			return refused(Conflict)
		}
		if md.lists[c.Path] == nil {
			md.lists[c.Path] = &modelList{}
		}
		l := md.lists[c.Path]
		it := Item{Version: index, Modified: index, Owner: c.Session, Data: string(c.Data)}
		l.items = append(l.items, it)
		l.version = index
		return Result{Code: OK, Item: it, Version: index, items: itemsOf(l.items)},
			[]Event{{Path: c.Path, Version: index, Kind: EventPush, Item: it}}
	case Update:
		if ValidatePath(c.Path) != nil {
			return refused(InvalidParameter)
		}
		if err := ValidateData(c.Data, md.maxItemBytes); err != nil {
			return refused(CodeOf(err))
		}
		l, position, code := md.find(c.Session, c.Path, c.Item, c.IfVersion)
		if code != OK {
			return refused(code)
		}
		l.items[position].Data = string(c.Data)
		l.items[position].Modified = index
		l.version = index
		it := l.items[position]
		return Result{Code: OK, Item: it, Version: index, items: itemsOf(l.items)},
			[]Event{{Path: c.Path, Version: index, Kind: EventUpdate, Item: it}}
	case Delete:
		if ValidatePath(c.Path) != nil {
			return refused(InvalidParameter)
		}
		l, position, code := md.find(c.Session, c.Path, c.Item, c.IfVersion)
		if code != OK {
			return refused(code)
		}
		it := l.items[position]
		l.items = append(l.items[:position:position], l.items[position+1:]...)
		l.version = index
		return Result{Code: OK, Item: it, Version: index, items: itemsOf(l.items)},
			[]Event{{Path: c.Path, Version: index, Kind: EventDelete, Item: it}}
	case RenewAll:
		if c.Term < md.renewalTerm {
			return refused(Conflict)
		}
		md.renewalIndex, md.renewalTerm = index, c.Term
		return Result{Code: OK}, nil
	}
	panic("unknown command")
}

// find runs the checks an update or delete shares, in the documented order.
func (md *model) find(session, path string, version uint64, ifVersion *uint64) (*modelList, int, Code) {
	if _, ok := md.sessions[session]; !ok {
		return nil, 0, SessionExpired
	}
	l := md.lists[path]
	if l == nil {
		return nil, 0, NotFound
	}
	for position, it := range l.items {
		if it.Version != version {
			continue
		}
		if it.Owner != session {
			return nil, 0, Forbidden
		}
		if ifVersion != nil && *ifVersion != l.version {
			return nil, 0, Conflict
		}
		return l, position, OK
	}
	return nil, 0, NotFound
}

// requireSameState compares every observable part of m with md.
func requireSameState(t require.TestingT, md *model, m *Machine, index uint64) {
	require.NoError(t, m.CheckInvariants())
	require.Equal(t, index, m.AppliedIndex())
	require.Equal(t, md.renewalIndex, m.LastRenewal())
	require.Equal(t, md.renewalTerm, m.LastRenewalTerm())

	ids := make([]string, 0, len(md.sessions))
	for id := range md.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	wantSessions := []SessionInfo{}
	for _, id := range ids {
		info := md.info(id)
		wantSessions = append(wantSessions, info)
		got, ok := m.SessionByTokenHash(info.TokenHash)
		require.True(t, ok)
		require.Equal(t, info, got)
	}
	require.Equal(t, wantSessions, m.Sessions())

	paths := make([]string, 0, len(md.lists))
	stats := Stats{Sessions: len(md.sessions), Lists: len(md.lists)}
	for path, l := range md.lists {
		paths = append(paths, path)
		items, version := m.Read(path)
		require.Equal(t, l.version, version, path)
		require.Equal(t, append([]Item{}, l.items...), items, path)
		stats.Items += len(l.items)
		for _, it := range l.items {
			stats.DataBytes += len(it.Data)
		}
	}
	slices.Sort(paths)
	require.Equal(t, paths, m.Paths())
	require.Equal(t, stats, m.Stats())
}

var (
	modelSessionIDs = []string{"s1", "s2", "s3", "s4", "bad/id"}
	modelPaths      = []string{"/data/a", "/data/b", "/data/a/b", "/data/c", "/bad"}
	modelTokens     = []string{"t1", "t2", "t3", "t4", "t5"}
)

// drawCommand draws a command that is likely to be interesting in md's
// state: most name existing sessions and items, some do not.
func drawCommand(t *rapid.T, md *model, index uint64) Command {
	session := rapid.SampledFrom(modelSessionIDs).Draw(t, "session")
	path := rapid.SampledFrom(modelPaths).Draw(t, "path")
	data := rapid.OneOf(
		rapid.Custom(func(t *rapid.T) []byte { return mp(t, rapid.IntRange(-1000, 1000).Draw(t, "number")) }),
		rapid.Custom(func(t *rapid.T) []byte { return mp(t, rapid.StringN(0, 30, -1).Draw(t, "text")) }),
		rapid.Just([]byte{0xc1}), // malformed
		rapid.Just([]byte(nil)),  // missing
	).Draw(t, "data")

	// An item: most often one that exists in the list, of any owner.
	var versions []uint64
	if l := md.lists[path]; l != nil {
		for _, it := range l.items {
			versions = append(versions, it.Version)
		}
	}
	item := rapid.Uint64Range(0, index+1).Draw(t, "random item")
	if len(versions) > 0 && rapid.IntRange(0, 3).Draw(t, "existing item") > 0 {
		item = rapid.SampledFrom(versions).Draw(t, "item")
	}

	var ifVersion *uint64
	switch rapid.IntRange(0, 3).Draw(t, "if_version") {
	case 1:
		ifVersion = u64(md.listVersion(path))
	case 2:
		ifVersion = u64(rapid.Uint64Range(0, index).Draw(t, "stale if_version"))
	}

	switch rapid.IntRange(0, 19).Draw(t, "kind") {
	case 0, 1, 2:
		token := rapid.SampledFrom(modelTokens).Draw(t, "token")
		return OpenSession{ID: session, TokenHash: hashOf(token), TTLms: rapid.Uint64Range(0, 3).Draw(t, "ttl")}
	case 3, 4:
		return CloseSession{ID: session, Expired: rapid.Bool().Draw(t, "expired")}
	case 5, 6, 7, 8, 9, 10:
		return Push{Session: session, Path: path, Data: data, IfVersion: ifVersion}
	case 11, 12, 13:
		return Update{Session: session, Path: path, Item: item, Data: data, IfVersion: ifVersion}
	case 14, 15, 16:
		return Delete{Session: session, Path: path, Item: item, IfVersion: ifVersion}
	case 17, 18:
		return RenewAll{Term: rapid.Uint64Range(0, 5).Draw(t, "term")}
	default:
		return Noop{}
	}
}

// modelMaxItemBytes is small so that TooLarge comes up.
const modelMaxItemBytes = 24

func TestMachineMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		md := newModel(modelMaxItemBytes)
		m := New(Options{MaxItemBytes: modelMaxItemBytes})
		var index uint64
		steps := rapid.IntRange(1, 120).Draw(t, "steps")
		for range steps {
			index += rapid.Uint64Range(1, 2).Draw(t, "index step")
			cmd := drawCommand(t, md, index)
			want, wantEvents := md.apply(index, cmd)
			got, gotEvents := m.Apply(index, Encode(cmd))

			require.Equal(t, want.Code, got.Code, "%#v: %s", cmd, got.Message)
			require.Equal(t, want.Item, got.Item)
			require.Equal(t, want.Version, got.Version)
			require.Equal(t, want.Items(), got.Items())
			require.Equal(t, want.Session, got.Session)
			require.Equal(t, want.Expired, got.Expired)
			require.Equal(t, wantEvents, gotEvents)
			requireSameState(t, md, m, index)

			// Now and then, carry on from a snapshot instead.
			if rapid.IntRange(0, 9).Draw(t, "restart from snapshot") == 0 {
				snapshot := m.Snapshot()
				m = New(Options{MaxItemBytes: modelMaxItemBytes})
				require.NoError(t, m.Restore(snapshot))
				require.Equal(t, snapshot, m.Snapshot())
				requireSameState(t, md, m, index)
			}
		}
	})
}

// itemsOf wraps a copy of the model's list as a Result's items.
func itemsOf(list []Item) items {
	if len(list) == 0 {
		return items{}
	}
	return items{chunks: [][]Item{slices.Clone(list)}, n: len(list)}
}
