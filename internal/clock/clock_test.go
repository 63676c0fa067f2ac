package clock

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOffsetFile(t *testing.T) {
	require.WithinDuration(t, time.Now(), Now(), time.Second, "no file: the machine's clock")
	f := filepath.Join(t.TempDir(), "offset")
	require.NoError(t, os.WriteFile(f, []byte("2h\n"), 0o600))
	path = f
	defer func() { path = "" }()
	readAt = time.Time{}
	require.WithinDuration(t, time.Now().Add(2*time.Hour), Now(), time.Second)
	require.NoError(t, os.WriteFile(f, []byte("-90m"), 0o600))
	readAt = time.Time{} // as a second later
	require.WithinDuration(t, time.Now().Add(-90*time.Minute), Now(), time.Second)
	require.NoError(t, os.WriteFile(f, []byte("garbage"), 0o600))
	readAt = time.Time{}
	require.WithinDuration(t, time.Now().Add(-90*time.Minute), Now(), time.Second, "a bad file keeps the last offset")
}
