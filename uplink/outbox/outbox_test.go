package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgegw/edgegw/gateway/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openDB opens a store in a fresh directory, closed at the end of the test.
func openDB(t testing.TB) (*store.DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	db, err := store.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, dir
}

func openOB(t testing.TB, db *store.DB, opts Options) *Outbox {
	t.Helper()
	o, err := Open(db, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func tele(id string) Message {
	return Message{ID: id, Class: Telemetry, Kind: "telemetry", DeviceID: "mac-001122aabbcc", Body: []byte(`{"id":"` + id + `"}`)}
}

func state(id, dev, body string) Message {
	return Message{ID: id, Class: State, Kind: "twin-reported", DeviceID: dev, Coalesce: "reported", Body: []byte(body)}
}

func control(id string) Message {
	return Message{ID: id, Class: Control, Kind: "event", Body: []byte(`{"event":"` + id + `"}`)}
}

func next(t testing.TB, o *Outbox) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := o.Next(ctx)
	require.NoError(t, err)
	return m
}

func nextID(t testing.TB, o *Outbox) string { t.Helper(); return next(t, o).ID }

// requireEmpty checks that Next has nothing to give right now.
func requireEmpty(t testing.TB, o *Outbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	m, err := o.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "got %q", m.ID)
}

// drain hands out and acks everything pending, returning the ids in order.
func drain(t testing.TB, o *Outbox) []string {
	t.Helper()
	var ids []string
	for o.Stats().Pending > 0 {
		m := next(t, o)
		ids = append(ids, m.ID)
		require.NoError(t, o.Ack(m.ID))
	}
	return ids
}

// mergeJSON combines two JSON objects, newer keys winning.
func mergeJSON(older, newer []byte) ([]byte, error) {
	var a, b map[string]any
	if err := json.Unmarshal(older, &a); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(newer, &b); err != nil {
		return nil, err
	}
	for k, v := range b {
		a[k] = v
	}
	return json.Marshal(a)
}

func TestFIFOAndRoundTrip(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{})
	created := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	var want []string
	for i := range 20 {
		var m Message
		switch i % 3 {
		case 0:
			m = tele("t" + strconv.Itoa(i))
		case 1:
			m = state("s"+strconv.Itoa(i), "dev"+strconv.Itoa(i), `{"i":`+strconv.Itoa(i)+`}`)
		case 2:
			m = control("c" + strconv.Itoa(i))
		}
		m.Created = created
		m.Attempts = 7 // ignored
		require.NoError(t, o.Put(m))
		want = append(want, m.ID)
	}
	st := o.Stats()
	require.Equal(t, 20, st.Pending)
	require.Zero(t, st.InFlight)
	require.Positive(t, st.Bytes)
	require.EqualValues(t, DefaultMaxBytes, st.MaxBytes)

	m := next(t, o)
	require.Equal(t, Message{ID: "t0", Class: Telemetry, Kind: "telemetry", DeviceID: "mac-001122aabbcc",
		Created: m.Created, Body: []byte(`{"id":"t0"}`), Attempts: 1}, m)
	require.True(t, created.Equal(m.Created))
	require.NoError(t, o.Ack("t0"))
	require.Equal(t, want[1:], drain(t, o))
	st = o.Stats()
	require.Zero(t, st.Pending)
	require.Zero(t, st.Bytes)
	require.EqualValues(t, 20, st.Acked)

	// A zero Created becomes now.
	before := time.Now()
	require.NoError(t, o.Put(control("c-now")))
	m = next(t, o)
	require.False(t, m.Created.Before(before.Truncate(time.Nanosecond)))
	require.WithinDuration(t, time.Now(), m.Created, time.Minute)
}

func TestWindow(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{})
	require.NoError(t, o.PutBatch([]Message{tele("a"), tele("b"), tele("c"), tele("d"), tele("e")}))

	require.Equal(t, "a", nextID(t, o))
	require.Equal(t, "b", nextID(t, o))
	require.Equal(t, "c", nextID(t, o))
	st := o.Stats()
	require.Equal(t, 2, st.Pending)
	require.Equal(t, 3, st.InFlight)

	// Acks come back in any order.
	require.NoError(t, o.Ack("b"))
	require.Equal(t, "d", nextID(t, o))
	require.NoError(t, o.AckBatch([]string{"c", "a"}))
	require.Equal(t, "e", nextID(t, o))
	requireEmpty(t, o)
	st = o.Stats()
	require.Zero(t, st.Pending)
	require.Equal(t, 2, st.InFlight)

	// A blocked Next wakes on Put.
	got := make(chan string)
	go func() {
		m, err := o.Next(context.Background())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- m.ID
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, o.Put(tele("f")))
	select {
	case id := <-got:
		require.Equal(t, "f", id)
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not wake on Put")
	}
}

func TestAckNackRequeue(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{})
	require.NoError(t, o.PutBatch([]Message{tele("a"), tele("b"), tele("c"), tele("d")}))

	require.Equal(t, "a", nextID(t, o))
	require.Equal(t, "b", nextID(t, o))
	// A retried nack puts it back at its position: first out again.
	require.NoError(t, o.Nack("a", true))
	m := next(t, o)
	require.Equal(t, "a", m.ID)
	require.Equal(t, 2, m.Attempts)
	require.Equal(t, "c", nextID(t, o))

	// Connection drop: a, b, c become pending again, in order, before d.
	o.Requeue()
	st := o.Stats()
	require.Equal(t, 4, st.Pending)
	require.Zero(t, st.InFlight)
	m = next(t, o)
	require.Equal(t, "a", m.ID)
	require.Equal(t, 3, m.Attempts)
	require.Equal(t, "b", nextID(t, o))

	// A late ack for a requeued (pending) message still deletes it.
	require.NoError(t, o.Ack("c"))
	require.Equal(t, "d", nextID(t, o))

	// Unknown and repeated ids.
	require.ErrorIs(t, o.Ack("nope"), ErrUnknownID)
	require.ErrorIs(t, o.Nack("nope", true), ErrUnknownID)
	err := o.AckBatch([]string{"a", "nope", "b", "a"})
	require.ErrorIs(t, err, ErrUnknownID)
	require.ErrorContains(t, err, "2 of 4")
	require.ErrorIs(t, o.Ack("a"), ErrUnknownID)
	require.NoError(t, o.Ack("d"))
	require.NoError(t, o.AckBatch(nil))

	st = o.Stats()
	require.Zero(t, st.Pending)
	require.Zero(t, st.InFlight)
	require.Zero(t, st.Bytes)
	require.EqualValues(t, 4, st.Acked)
	require.Zero(t, st.DeadLettered)
}

func TestDeadLetter(t *testing.T) {
	db, dir := openDB(t)
	o, err := Open(db, Options{MaxAttempts: 3})
	require.NoError(t, err)
	require.NoError(t, o.PutBatch([]Message{tele("a"), control("b"), tele("c")}))

	// Rejected: dead at once.
	require.Equal(t, "a", nextID(t, o))
	require.NoError(t, o.Nack("a", false))
	require.ErrorIs(t, o.Ack("a"), ErrUnknownID)

	// Released twice, then a restart: the nack count survives it.
	for range 2 {
		require.Equal(t, "b", nextID(t, o))
		require.NoError(t, o.Nack("b", true))
	}
	require.NoError(t, o.Close())
	require.NoError(t, db.Close())
	db, err = store.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	o = openOB(t, db, Options{MaxAttempts: 3})
	m := next(t, o)
	require.Equal(t, "b", m.ID)
	require.Equal(t, 3, m.Attempts)
	require.NoError(t, o.Nack("b", true)) // the third: dead
	require.Equal(t, "c", nextID(t, o))

	st := o.Stats()
	require.EqualValues(t, 2, st.DeadLettered)
	require.Zero(t, st.Pending)
	require.Equal(t, 1, st.InFlight)
	dead, err := o.DeadLetters()
	require.NoError(t, err)
	require.Len(t, dead, 2)
	require.Equal(t, "a", dead[0].ID)
	require.Equal(t, ReasonRejected, dead[0].Reason)
	require.Equal(t, 1, dead[0].Attempts)
	require.Equal(t, "b", dead[1].ID)
	require.Equal(t, ReasonMaxAttempts, dead[1].Reason)
	require.Equal(t, 3, dead[1].Attempts)
	require.Equal(t, []byte(`{"event":"b"}`), dead[1].Body)
	require.Equal(t, Control, dead[1].Class)
	require.WithinDuration(t, time.Now(), dead[1].At, time.Minute)
}

func TestDeadLetterKeepsOnlyMaxDead(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{MaxDead: 3})
	for i := range 5 {
		id := "m" + strconv.Itoa(i)
		require.NoError(t, o.Put(control(id)))
		require.Equal(t, id, nextID(t, o))
		require.NoError(t, o.Nack(id, false))
	}
	dead, err := o.DeadLetters()
	require.NoError(t, err)
	var ids []string
	for _, d := range dead {
		ids = append(ids, d.ID)
	}
	require.Equal(t, []string{"m2", "m3", "m4"}, ids)
	require.EqualValues(t, 5, o.Stats().DeadLettered)
}

func TestCoalesce(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{Merge: mergeJSON})

	require.NoError(t, o.Put(state("s1", "dev1", `{"a":1}`)))
	require.NoError(t, o.Put(control("c1")))
	require.NoError(t, o.Put(state("s2", "dev1", `{"b":2}`)))
	require.NoError(t, o.Put(state("s3", "dev2", `{"a":9}`)))                                    // other device
	require.NoError(t, o.Put(Message{ID: "s4", Class: State, DeviceID: "dev1", Coalesce: "full", // other key
		Body: []byte(`{"x":1}`)}))
	require.NoError(t, o.Put(Message{ID: "c2", Class: Control, DeviceID: "dev1", Coalesce: "reported", // not State: never coalesced
		Body: []byte(`{}`)}))
	require.NoError(t, o.PutBatch([]Message{
		state("s5", "dev1", `{"a":3}`),
		state("s6", "dev2", `{"b":8}`),
		state("s7", "dev1", `{"c":4}`),
	}))
	st := o.Stats()
	require.EqualValues(t, 3, st.Coalesced)
	require.Equal(t, 6, st.Pending)

	// The merged one keeps the first one's position and takes the newest
	// one's id. s5 does not merge into s1: s4, dev1's other State message,
	// waits between them (TestCoalesceKeepsDeviceOrder); s7 merges into s5.
	m := next(t, o)
	require.Equal(t, "s2", m.ID)
	require.JSONEq(t, `{"a":1,"b":2}`, string(m.Body))
	require.Equal(t, "c1", nextID(t, o))
	m = next(t, o)
	require.Equal(t, "s6", m.ID)
	require.JSONEq(t, `{"a":9,"b":8}`, string(m.Body))
	require.Equal(t, "s4", nextID(t, o))
	require.Equal(t, "c2", nextID(t, o))
	m = next(t, o)
	require.Equal(t, "s7", m.ID)
	require.JSONEq(t, `{"a":3,"c":4}`, string(m.Body))
	// Bytes follow the merged sizes.
	require.NoError(t, o.AckBatch([]string{"s2", "c1", "s6", "s4", "c2", "s7"}))
	require.Zero(t, o.Stats().Bytes)
	// The old ids are gone.
	require.ErrorIs(t, o.Ack("s1"), ErrUnknownID)
}

func TestCoalesceNotInFlight(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{Merge: mergeJSON})

	require.NoError(t, o.Put(state("s1", "dev1", `{"a":1}`)))
	m := next(t, o)
	require.Equal(t, "s1", m.ID) // in flight: must not change

	require.NoError(t, o.Put(state("s2", "dev1", `{"b":2}`))) // queues behind
	require.NoError(t, o.Put(state("s3", "dev1", `{"c":3}`))) // merges into s2
	require.EqualValues(t, 1, o.Stats().Coalesced)

	// The connection drops: s1 is pending again, unchanged, before the
	// merged s2+s3; a new patch merges into the newest (s3), never into
	// the older s1, so the cloud applies them in order.
	o.Requeue()
	require.NoError(t, o.Put(state("s4", "dev1", `{"a":4}`)))
	m = next(t, o)
	require.Equal(t, "s1", m.ID)
	require.JSONEq(t, `{"a":1}`, string(m.Body))
	require.Equal(t, 2, m.Attempts)
	m = next(t, o)
	require.Equal(t, "s4", m.ID)
	require.JSONEq(t, `{"a":4,"b":2,"c":3}`, string(m.Body))
	require.Equal(t, 1, m.Attempts)
	requireEmpty(t, o)

	require.NoError(t, o.Ack("s1"))
	require.NoError(t, o.Ack("s4"))

	// The newest with the key (s6) is in flight and an older one (s5) is
	// pending again: a new patch must not merge into s5 (s6, older than
	// it, would then arrive after it), it queues behind.
	require.NoError(t, o.Put(state("s5", "dev1", `{"a":5}`)))
	require.Equal(t, "s5", nextID(t, o))
	require.NoError(t, o.Put(state("s6", "dev1", `{"a":6}`)))
	require.Equal(t, "s6", nextID(t, o))
	require.NoError(t, o.Nack("s5", true))
	require.NoError(t, o.Put(state("s7", "dev1", `{"a":7}`)))
	m = next(t, o)
	require.Equal(t, "s5", m.ID)
	require.JSONEq(t, `{"a":5}`, string(m.Body))
	m = next(t, o)
	require.Equal(t, "s7", m.ID)
	require.JSONEq(t, `{"a":7}`, string(m.Body))
	require.Zero(t, o.Stats().Pending)
}

func TestCoalesceMergeErrorAndNilMerge(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{Merge: mergeJSON})
	require.NoError(t, o.Put(state("s1", "dev1", `{"a":1}`)))
	require.NoError(t, o.Put(state("s2", "dev1", `not json`))) // Merge fails: queued on its own
	require.NoError(t, o.Put(state("s3", "dev1", `{"b":2}`)))  // merges into the newest, s2: fails again
	require.NoError(t, o.Put(state("s4", "dev1", `{"c":3}`)))  // s3 is the newest: merges
	require.Equal(t, []string{"s1", "s2", "s4"}, drain(t, o))
	require.EqualValues(t, 1, o.Stats().Coalesced)

	// A panicking Merge is a failed merge.
	db2, _ := openDB(t)
	o2 := openOB(t, db2, Options{Merge: func(_, _ []byte) ([]byte, error) { panic("boom") }})
	require.NoError(t, o2.Put(state("s1", "dev1", `{"a":1}`)))
	require.NoError(t, o2.Put(state("s2", "dev1", `{"a":2}`)))
	require.Equal(t, []string{"s1", "s2"}, drain(t, o2))

	// Nil Merge: the newer body replaces the older.
	db3, _ := openDB(t)
	o3 := openOB(t, db3, Options{})
	require.NoError(t, o3.Put(state("s1", "dev1", `{"a":1}`)))
	require.NoError(t, o3.Put(state("s2", "dev1", `{"b":2}`)))
	m := next(t, o3)
	require.Equal(t, "s2", m.ID)
	require.Equal(t, `{"b":2}`, string(m.Body))
}

func TestBound(t *testing.T) {
	db, dir := openDB(t)
	one := sizeOf(ptr(tele("t00")), len(tele("t00").Body))
	opts := Options{MaxBytes: 10 * one}
	o, err := Open(db, opts)
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, o.Put(tele(fmt.Sprintf("t%02d", i))))
	}
	st := o.Stats()
	require.Equal(t, 10*one, st.Bytes)
	require.Zero(t, st.Dropped)

	// Full: the oldest telemetry goes.
	require.NoError(t, o.Put(tele("t10")))
	st = o.Stats()
	require.EqualValues(t, 1, st.Dropped)
	require.Equal(t, 10, st.Pending)
	require.Equal(t, 10*one, st.Bytes)

	// In flight is never dropped: t01 goes out, t02 is dropped next.
	require.Equal(t, "t01", nextID(t, o))
	require.NoError(t, o.Put(tele("t11")))
	require.EqualValues(t, 2, o.Stats().Dropped)

	// State and Control push telemetry out, and go over the bound once
	// there is none left to drop.
	var batch []Message
	for i := range 12 {
		batch = append(batch, control(fmt.Sprintf("c%02d", i)))
	}
	require.NoError(t, o.PutBatch(batch))
	require.NoError(t, o.Put(state("s1", "dev1", `{"a":1}`)))
	st = o.Stats()
	require.EqualValues(t, 11, st.Dropped) // and t03..t11 (not t01: in flight)
	require.Greater(t, st.Bytes, st.MaxBytes)
	require.Equal(t, 13, st.Pending)
	require.Equal(t, 1, st.InFlight)

	// Telemetry now has nowhere to go: refused and counted, nothing lost
	// from the queue. In a batch the others are stored.
	err = o.Put(tele("t12"))
	require.ErrorIs(t, err, ErrFull)
	err = o.PutBatch([]Message{tele("t13"), control("c99"), tele("t14")})
	require.ErrorIs(t, err, ErrFull)
	require.ErrorContains(t, err, "2 of 3")
	st = o.Stats()
	require.EqualValues(t, 3, st.Rejected)
	require.Equal(t, 14, st.Pending)

	// Drops and counters are durable: a restart sees the same queue.
	require.NoError(t, o.Close())
	require.NoError(t, db.Close())
	db, err = store.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	o = openOB(t, db, opts)
	st2 := o.Stats()
	require.Equal(t, st.Bytes, st2.Bytes)
	require.Equal(t, st.Dropped, st2.Dropped)
	require.Equal(t, st.Rejected, st2.Rejected)
	require.Equal(t, 15, st2.Pending) // t01 was in flight
	ids := drain(t, o)
	require.Equal(t, "t01", ids[0])
	require.Equal(t, "c00", ids[1])
	require.Equal(t, "c99", ids[len(ids)-1])
	require.NotContains(t, ids, "t12")

	// A telemetry message bigger than the bound is refused on an empty
	// outbox; a Control one is not.
	big := make([]byte, 20*one)
	m := tele("huge")
	m.Body = big
	require.ErrorIs(t, o.Put(m), ErrFull)
	m.Class, m.ID = Control, "huge-control"
	require.NoError(t, o.Put(m))
}

func TestBoundDropsJustEnough(t *testing.T) {
	db, _ := openDB(t)
	one := sizeOf(ptr(tele("t00")), len(tele("t00").Body))
	o := openOB(t, db, Options{MaxBytes: 10 * one, Merge: mergeJSON})
	require.NoError(t, o.Put(state("s1", "dev1", `{"a":1}`)))
	for i := range 8 {
		require.NoError(t, o.Put(tele(fmt.Sprintf("t%02d", i))))
	}
	// Worst case this needs room for two messages; it coalesces, so
	// nothing is dropped.
	require.NoError(t, o.PutBatch([]Message{state("s2", "dev1", `{"a":2}`), state("s3", "dev1", `{"a":3}`)}))
	st := o.Stats()
	require.Zero(t, st.Dropped)
	require.EqualValues(t, 2, st.Coalesced)
	// Telemetry dropped within a batch is counted; the batch is whole.
	require.NoError(t, o.PutBatch([]Message{tele("t08"), tele("t09"), tele("t10")}))
	st = o.Stats()
	require.LessOrEqual(t, st.Bytes, st.MaxBytes)
	require.EqualValues(t, 2, st.Dropped)
	ids := drain(t, o)
	require.Equal(t, []string{"s3", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10"}, ids)
}

func ptr[T any](v T) *T { return &v }

func TestCrashReopen(t *testing.T) {
	db, dir := openDB(t)
	o, err := Open(db, Options{})
	require.NoError(t, err)
	var want []string
	for i := range 50 {
		var batch []Message
		for j := range 4 {
			id := fmt.Sprintf("m%03d-%d", i, j)
			batch = append(batch, tele(id))
			want = append(want, id)
		}
		require.NoError(t, o.PutBatch(batch))
	}
	// Some in flight, some acked, some nacked; then the process "dies":
	// no Close, no more acks, the store reopened from the file.
	for range 10 {
		next(t, o)
	}
	require.NoError(t, o.AckBatch([]string{want[1], want[3]}))
	require.NoError(t, o.Nack(want[4], true))
	require.NoError(t, db.Close())

	db, err = store.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	o = openOB(t, db, Options{})
	st := o.Stats()
	require.Equal(t, 198, st.Pending)
	require.Zero(t, st.InFlight)
	require.EqualValues(t, 2, st.Acked)
	exp := append([]string{want[0], want[2]}, want[4:]...)
	got := drain(t, o)
	require.Equal(t, exp, got)

	// Sequence numbers continue after a restart with an empty queue.
	require.NoError(t, o.PutBatch([]Message{tele("x"), tele("y")}))
	require.NoError(t, db.Close())
	db, err = store.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	o = openOB(t, db, Options{})
	require.NoError(t, o.Put(tele("z")))
	require.Equal(t, []string{"x", "y", "z"}, drain(t, o))
}

func TestInvalid(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{})
	require.Error(t, o.Put(Message{Class: Control}))
	require.Error(t, o.Put(Message{ID: "x", Class: 9}))
	require.Error(t, o.PutBatch([]Message{control("a"), control("a")}))
	require.NoError(t, o.Put(control("a")))
	require.ErrorContains(t, o.Put(control("a")), "already queued")
	require.Equal(t, 1, o.Stats().Pending)
	require.NoError(t, o.PutBatch(nil))
	_, err := Open(db, Options{MaxBytes: -1})
	require.Error(t, err)
}

func TestNextContextAndClose(t *testing.T) {
	db, _ := openDB(t)
	o, err := Open(db, Options{})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, o.Put(control("a")))
	_, err = o.Next(ctx) // a done context wins even with a message waiting
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.Equal(t, "a", nextID(t, o))
	errc := make(chan error, 1)
	go func() {
		_, err := o.Next(ctx)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, o.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	require.ErrorIs(t, o.Put(control("b")), ErrClosed)
	require.ErrorIs(t, o.Ack("a"), ErrClosed)
	require.ErrorIs(t, o.Nack("a", true), ErrClosed)
	require.NoError(t, o.Close())
}

// TestConcurrent: pollers put while a sender with a window takes, acks,
// nacks and sees connection drops. Every message is acked at least once,
// and at the end nothing is left.
func TestConcurrent(t *testing.T) {
	db, _ := openDB(t)
	o := openOB(t, db, Options{Merge: mergeJSON, MaxAttempts: 1000})
	const producers, batches, per = 4, 25, 8
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for b := range batches {
				var batch []Message
				for i := range per {
					id := fmt.Sprintf("p%d-b%d-%d", p, b, i)
					if i%4 == 3 {
						batch = append(batch, Message{ID: id, Class: Control, Body: []byte(`{}`)})
					} else {
						batch = append(batch, tele(id))
					}
				}
				if err := o.PutBatch(batch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// A poller of twin state, coalescing.
	wg.Go(func() {
		for i := range 100 {
			if err := o.Put(state(fmt.Sprintf("st-%d", i), "dev"+strconv.Itoa(i%3), `{"v":`+strconv.Itoa(i)+`}`)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	// Something watching stats.
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = o.Stats()
				time.Sleep(time.Millisecond)
			}
		}
	})

	producersDone := make(chan struct{})
	go func() { wg.Wait(); close(producersDone) }()

	acked := make(map[string]int)
	var window []string
	flush := func() {
		if len(window) == 0 {
			return
		}
		require.NoError(t, o.AckBatch(window))
		for _, id := range window {
			acked[id]++
		}
		window = nil
	}
	for n := 1; ; n++ {
		select {
		case <-producersDone:
			if st := o.Stats(); st.Pending == 0 {
				flush()
				if st := o.Stats(); st.Pending == 0 && st.InFlight == 0 {
					goto done
				}
			}
		default:
		}
		nctx, ncancel := context.WithTimeout(ctx, 20*time.Millisecond)
		m, err := o.Next(nctx)
		ncancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			flush()
			continue
		}
		require.NoError(t, err)
		window = append(window, m.ID)
		switch {
		case n%37 == 0:
			o.Requeue()
			window = nil
		case n%11 == 0:
			require.NoError(t, o.Nack(m.ID, true))
			window = window[:len(window)-1]
		case len(window) >= 8:
			flush()
		}
	}
done:
	close(stop)
	watch.Wait()
	total := producers * batches * per
	require.Equal(t, total, countNonState(acked))
	for id, n := range acked {
		require.Equal(t, 1, n, id)
	}
	st := o.Stats()
	require.Zero(t, st.Bytes)
	require.Zero(t, st.Dropped)
	require.EqualValues(t, len(acked), st.Acked)
	require.EqualValues(t, 100, st.Acked+st.Coalesced-uint64(total))
}

func countNonState(acked map[string]int) int {
	n := 0
	for id := range acked {
		if id[:2] != "st" {
			n++
		}
	}
	return n
}

func TestOpenEmptyAndForeignMeta(t *testing.T) {
	db, _ := openDB(t)
	require.NoError(t, db.Put(bucketMeta, metaKey, []byte{99}))
	_, err := Open(db, Options{})
	require.Error(t, err)
	require.NoError(t, db.Put(bucketMsgs, seqKey(1), []byte{1}))
	require.NoError(t, db.Delete(bucketMeta, metaKey))
	_, err = Open(db, Options{})
	require.ErrorIs(t, err, errBadRecord)
}

func TestRecordRoundTrip(t *testing.T) {
	m := Message{ID: "id", Class: State, Kind: "k", DeviceID: "d", Coalesce: "c",
		Created: time.Unix(0, 12345), Body: []byte(`{"x":1}`)}
	got, err := decodeRecord(encodeRecord(&m))
	require.NoError(t, err)
	require.Equal(t, m.ID, got.ID)
	require.Equal(t, m.Body, got.Body)
	require.True(t, m.Created.Equal(got.Created))
	for i := range len(encodeRecord(&m)) - len(m.Body) {
		_, err := decodeRecord(encodeRecord(&m)[:i])
		require.Error(t, err, "truncated at %d", i)
	}
	require.True(t, errors.Is(func() error { _, err := decodeRecord([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0}); return err }(), errBadRecord))
}

// TestWriteFailure: when the store fails a write, nothing in memory
// changes except that what was in flight is offered again.
func TestWriteFailure(t *testing.T) {
	db, _ := openDB(t)
	one := sizeOf(ptr(tele("t0")), len(tele("t0").Body))
	o := openOB(t, db, Options{MaxBytes: 3 * one, Merge: mergeJSON})
	require.NoError(t, o.PutBatch([]Message{tele("t0"), tele("t1"), state("s1", "dev1", `{"a":1}`)}))
	require.Equal(t, "t0", nextID(t, o))
	before := o.Stats()

	require.NoError(t, db.Close()) // every write and read fails from now on
	require.Error(t, o.PutBatch([]Message{tele("t2"), state("s2", "dev1", `{"b":1}`)}))
	require.Equal(t, before, o.Stats())
	require.Error(t, o.Ack("t0"))
	require.Error(t, o.Nack("t1", false))
	st := o.Stats()
	// t0 stays in flight: the broker has it, so it is acked again later (or requeued), not sent
	// again — on a full disk that would be one duplicate per attempt.
	require.Equal(t, 2, st.Pending)
	require.Equal(t, 1, st.InFlight)
	require.Equal(t, before.Bytes, st.Bytes)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := o.Next(ctx)
	require.Error(t, err)
	require.Equal(t, 2, o.Stats().Pending)
	o.Requeue()
	require.Equal(t, 3, o.Stats().Pending)

	// The reservations were undone: t1 can still be dropped, s1 merged.
	o.mu.Lock()
	for _, e := range o.byID {
		require.False(t, e.busy, e.id)
	}
	require.Equal(t, 2, o.tele.len())
	o.mu.Unlock()
}

// TestNextWaitsForMergeAtHead: while a Put is merging into the message at
// the head, Next neither hands out the old body nor skips ahead; Stats and
// Requeue are not held up by the running write.
func TestNextWaitsForMergeAtHead(t *testing.T) {
	db, _ := openDB(t)
	inMerge, release := make(chan struct{}), make(chan struct{})
	o := openOB(t, db, Options{Merge: func(older, newer []byte) ([]byte, error) {
		close(inMerge)
		<-release
		return mergeJSON(older, newer)
	}})
	require.NoError(t, o.PutBatch([]Message{state("s1", "dev1", `{"a":1}`), control("c1")}))
	errc := make(chan error, 1)
	go func() { errc <- o.Put(state("s2", "dev1", `{"b":2}`)) }()
	<-inMerge

	require.Equal(t, 2, o.Stats().Pending)
	o.Requeue()
	requireEmpty(t, o) // not c1: s1 is first, and busy
	got := make(chan Message, 1)
	go func() {
		m, err := o.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	require.NoError(t, <-errc)
	m := <-got
	require.Equal(t, "s2", m.ID)
	require.JSONEq(t, `{"a":1,"b":2}`, string(m.Body))
	require.Equal(t, "c1", nextID(t, o))
}
