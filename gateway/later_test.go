package gateway

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

// laterSink is an outboxSink that keeps CommitLater's commits until release (the uplink's telemetry
// batch does so for a second), and commits them before any Commit, as the uplink does.
type laterSink struct {
	outboxSink
	off  bool
	kept []func() error
	lost []func(error)
}

func (s *laterSink) CommitLater(out Outgoing, write func(w store.Writer) error, failed func(error)) bool {
	if s.off {
		return false
	}
	s.kept = append(s.kept, func() error { return s.outboxSink.Commit(out, write) })
	s.lost = append(s.lost, failed)
	return true
}

func (s *laterSink) Commit(out Outgoing, write func(w store.Writer) error) error {
	s.release(nil)
	return s.outboxSink.Commit(out, write)
}

// release commits what is kept, or fails it with err.
func (s *laterSink) release(err error) {
	for i, c := range s.kept {
		if e := err; e != nil || c() != nil {
			s.lost[i](errors.Join(e, errors.New("kept commit failed")))
		}
	}
	s.kept, s.lost = nil, nil
}

// TestPatchCommittedLater: with a Sink that keeps polls' patches (LaterCommitter), a poll's patch and
// the record of it as sent are committed later, together; a full twin committed meanwhile comes after
// the kept patch; a kept patch that fails makes the twin go up in full later (resync), as a patch that
// could not be committed at once does.
func TestPatchCommittedLater(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	sink := &laterSink{outboxSink: outboxSink{st: st}}
	w := risingWriter()
	g, err := New(Options{Ranks: testRanks, Store: st, Sink: sink, Pollers: map[string]Poller{"snmp": w}})
	require.NoError(t, err)
	id := g.Observe(display)
	_, err = g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
	require.NoError(t, g.PollNow(ctx, id))
	versions, _ := sink.sent(id)
	require.Equal(t, []string{"full 0"}, versions, "the poll's patch is kept")
	sink.release(nil)
	versions, _ = sink.sent(id)
	require.Equal(t, []string{"full 0", "patch 1"}, versions)
	v, ok := g.sent.get(id)
	require.True(t, ok)
	require.Equal(t, int64(1), v)

	// A kept patch that fails: the twin goes up in full at the next catch-up, newer than any sent.
	require.NoError(t, g.PollNow(ctx, id))
	sink.release(errors.New("disk full"))
	resync, _ := g.sent.waiting()
	require.Equal(t, 1, resync)
	g.catchUp()
	versions, _ = sink.sent(id)
	require.Equal(t, []string{"full 0", "patch 1", "full 3"}, versions)

	// Without a batch the Sink keeps nothing: the patch is committed at once.
	sink.off = true
	require.NoError(t, g.PollNow(ctx, id))
	versions, _ = sink.sent(id)
	require.Equal(t, []string{"full 0", "patch 1", "full 3", "patch 4"}, versions)
}

// countingStore counts write transactions.
type countingStore struct {
	*memStore
	writes int
}

func (c *countingStore) Write(fn func(w store.Writer) error) error {
	c.writes++
	return c.memStore.Write(fn)
}

// TestPollWithoutSinkWritesNothing: without a cloud (no Sink) a poll's patch goes nowhere, so it is no
// transaction of its own: an empty commit still syncs the disk, once per poll.
func TestPollWithoutSinkWritesNothing(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{memStore: newMemStore()}
	g, err := New(Options{Ranks: testRanks, Store: st, Pollers: map[string]Poller{"snmp": risingWriter()}})
	require.NoError(t, err)
	id := g.Observe(display)
	_, err = g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
	before := st.writes
	for range 5 {
		require.NoError(t, g.PollNow(ctx, id))
	}
	require.Equal(t, before, st.writes, "five polls, each with a patch, and no write until the twins are flushed")
	tw, _ := g.Twin(id)
	require.Equal(t, int64(5), tw.Reported.Version)
}

// TestStaleTwinAfterCrashResent: a twin that only polls changed is written lazily, its $version at the
// next flush; after a crash between the two, the restored twin has older values than its version, and
// the cloud may have newer ones, which later patches would not correct where the device goes back to an
// old value. It goes up in full again.
func TestStaleTwinAfterCrashResent(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	sink := &outboxSink{st: st}
	g, err := New(Options{Ranks: testRanks, Store: st, Sink: sink, Pollers: map[string]Poller{"snmp": risingWriter()}})
	require.NoError(t, err)
	id := g.Observe(display)
	_, err = g.Claim(ctx, display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
	require.NoError(t, g.PollNow(ctx, id))
	require.NoError(t, g.Flush()) // the twin on disk at version 1
	require.NoError(t, g.PollNow(ctx, id))
	// A flush that wrote version 2 alone (twinSet.flush does so for the lazily changed twins it does not
	// write whole), then the process is killed.
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], 2)
	require.NoError(t, st.Write(func(w store.Writer) error { return w.Put(bucketVersions, id, v[:]) }))
	var stored Twin
	require.NoError(t, st.ForEach(bucketTwins, func(_ string, b []byte) error { return json.Unmarshal(b, &stored) }))
	require.Equal(t, int64(1), stored.Reported.Version)

	sink2 := &outboxSink{st: st}
	g2, err := New(Options{Ranks: testRanks, Store: st, Sink: sink2, Pollers: map[string]Poller{"snmp": risingWriter()}})
	require.NoError(t, err)
	tw, _ := g2.Twin(id)
	require.Equal(t, int64(2), tw.Reported.Version, "the version is not taken back")
	resync, _ := g2.sent.waiting()
	require.Equal(t, 1, resync, "the stale twin goes up in full")
	g2.catchUp()
	versions, _ := sink2.sent(id)
	require.Equal(t, []string{"full 3"}, versions)
}
