package outbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
)

const childEnv = "EDGEGW_OUTBOX_KILL_CHILD_DIR"

// TestKill9 runs a producer-and-sender in a child process, SIGKILLs it in
// the middle of its work and checks, on reopening the store, that every
// message whose Put returned is there unless its Ack returned, pending, in
// the order of Put.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())

	var (
		put      []string            // Put returned
		acked    = map[string]bool{} // Ack returned
		acking   = map[string]bool{} // Ack called
		lines    int
		sc       = bufio.NewScanner(out)
		killedAt = 400
	)
	for sc.Scan() {
		verb, id, _ := strings.Cut(sc.Text(), " ")
		switch verb {
		case "put":
			put = append(put, id)
		case "acking":
			acking[id] = true
		case "ack":
			acked[id] = true
		}
		if lines++; lines == killedAt {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			break
		}
	}
	_ = cmd.Wait()
	require.Greater(t, len(put), 100)
	require.NotEmpty(t, acked)

	db, err := store.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	o := openOB(t, db, Options{})
	require.Zero(t, o.Stats().InFlight)
	got := drain(t, o)
	require.True(t, slices.IsSorted(got), "order of Put kept")
	have := map[string]bool{}
	for _, id := range got {
		have[id] = true
		require.False(t, acked[id], "acked %s came back", id)
	}
	for _, id := range put {
		if !acking[id] {
			require.True(t, have[id], "lost %s", id)
		}
	}
	t.Logf("child put %d (reported), acked %d; after kill -9: %d pending", len(put), len(acked), len(got))
}

// TestKill9Child is the child of TestKill9; it does nothing on its own.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		return // not a skip: make test reports every skipped test, and this one is no test of its own
	}
	db, err := store.Open(dir, nil)
	require.NoError(t, err)
	o, err := Open(db, Options{})
	require.NoError(t, err)
	w := bufio.NewWriter(os.Stdout)
	n := 0
	for b := 0; ; b++ {
		var batch []Message
		for range 10 {
			batch = append(batch, tele(fmt.Sprintf("m%08d", n)))
			n++
		}
		require.NoError(t, o.PutBatch(batch))
		for _, m := range batch {
			fmt.Fprintln(w, "put", m.ID)
		}
		// Hand out 7, ack 3 of them in one batch, leave the rest in flight.
		var ids []string
		for range 7 {
			m, err := o.Next(context.Background())
			require.NoError(t, err)
			ids = append(ids, m.ID)
		}
		ack := []string{ids[0], ids[2], ids[5]}
		for _, id := range ack {
			fmt.Fprintln(w, "acking", id)
		}
		require.NoError(t, w.Flush())
		require.NoError(t, o.AckBatch(ack))
		for _, id := range ack {
			fmt.Fprintln(w, "ack", id)
		}
		if b%5 == 4 {
			o.Requeue()
		}
		require.NoError(t, w.Flush())
	}
}
