package profile

import (
	"crypto/sha256"
	"fmt"
	"os"
	"testing"
	"time"
)

func FuzzZZSlow(f *testing.F) {
	entries, _ := embedded.ReadDir("profiles")
	for _, e := range entries {
		data, _ := embedded.ReadFile("profiles/" + e.Name())
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		Parse("fuzz.toml", data)
		checkScannerCoverage(t, string(data))
		if d := time.Since(start); d > 200*time.Millisecond {
			os.WriteFile(fmt.Sprintf("/tmp/slow/%x-%dms", sha256.Sum256(data), d.Milliseconds()), data, 0o644)
		}
	})
}
