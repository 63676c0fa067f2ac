package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzOpenDamaged overwrites bytes of a real state file and opens it. Open
// must either succeed or refuse, never crash — bbolt panics or faults on
// damaged pages it is led to — and a refusal must leave the file as it was.
func FuzzOpenDamaged(f *testing.F) {
	base := f.TempDir()
	makeState(f, base)
	baseDB, err := os.ReadFile(filepath.Join(base, "state.db"))
	require.NoError(f, err)
	baseKey, err := os.ReadFile(filepath.Join(base, "state.key"))
	require.NoError(f, err)
	ps := int(parseMeta(baseDB).pageSize)

	f.Add(uint32(2*ps), bytes.Repeat([]byte{0xff}, ps))     // a data page
	f.Add(uint32(pageHeaderSize), []byte{0, 0, 0, 0})       // meta 0's magic
	f.Add(uint32(ps+pageHeaderSize+40), []byte{0xff, 0xff}) // meta 1's page count
	f.Add(uint32(3*ps+8), []byte{0x10})                     // a page's flags
	f.Fuzz(func(t *testing.T, off uint32, data []byte) {
		file := bytes.Clone(baseDB)
		if int(off) >= len(file) {
			return
		}
		copy(file[off:], data)
		dir := t.TempDir()
		path := filepath.Join(dir, "state.db")
		require.NoError(t, os.WriteFile(path, file, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "state.key"), baseKey, 0o600))

		db, err := Open(dir, nil)
		if err == nil {
			require.NoError(t, db.Close())
			return
		}
		after, rerr := os.ReadFile(path)
		require.NoError(t, rerr)
		require.Equal(t, file, after, "refused with %v, but changed the file", err)
	})
}
