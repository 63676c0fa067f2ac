package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Two runs: the full run skips TestLoss (run on its own later) and the -short run skips TestSlow.
const fullRun = `{"Action":"run","Package":"p","Test":"TestSlow"}
{"Action":"pass","Package":"p","Test":"TestSlow"}
{"Action":"run","Package":"p","Test":"TestLoss"}
{"Action":"output","Package":"p","Test":"TestLoss","Output":"=== RUN   TestLoss\n"}
{"Action":"output","Package":"p","Test":"TestLoss","Output":"    loss_test.go:30: run on its own\n"}
{"Action":"output","Package":"p","Test":"TestLoss","Output":"--- SKIP: TestLoss (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestLoss"}
{"Action":"run","Package":"q","Test":"TestPeer"}
{"Action":"output","Package":"q","Test":"TestPeer","Output":"    peers.go:56: peer key PEERS_X missing\n"}
{"Action":"skip","Package":"q","Test":"TestPeer"}
{"Action":"run","Package":"q","Test":"TestBroken"}
{"Action":"fail","Package":"q","Test":"TestBroken"}
not json: passes through
`

const shortRun = `{"Action":"run","Package":"p","Test":"TestSlow"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"    slow_test.go:9: takes 160 s\n"}
{"Action":"skip","Package":"p","Test":"TestSlow"}
{"Action":"run","Package":"p","Test":"TestLoss"}
{"Action":"pass","Package":"p","Test":"TestLoss"}
`

func TestSummarize(t *testing.T) {
	s, err := summarize(strings.NewReader(fullRun), strings.NewReader(shortRun))
	require.NoError(t, err)
	require.Equal(t, 2, s.passed, "TestSlow and TestLoss each ran in one of the runs")
	require.Equal(t, []string{"q TestBroken"}, s.failed)
	require.Equal(t, []string{"q TestPeer: peers.go:56: peer key PEERS_X missing"}, s.skipped)
	var b strings.Builder
	s.print(&b)
	require.Equal(t, "1 skipped (run in none of the runs):\n  q TestPeer: peers.go:56: peer key PEERS_X missing\n"+
		"1 failed (their output is above):\n  q TestBroken\n"+
		"tests: 2 passed, 1 failed, 1 skipped\n", b.String())
}

// A package that times out: the test running then never ends, and the panic's output is its output.
const timedOut = `{"Action":"run","Package":"r","Test":"TestA"}
{"Action":"pass","Package":"r","Test":"TestA"}
{"Action":"run","Package":"r","Test":"TestHang"}
{"Action":"output","Package":"r","Test":"TestHang","Output":"=== RUN   TestHang\n"}
{"Action":"output","Package":"r","Test":"TestHang","Output":"panic: test timed out after 3s\n"}
{"Action":"output","Package":"r","Output":"FAIL\tr\t3.0s\n"}
{"Action":"fail","Package":"r"}
`

func TestTimedOutPackage(t *testing.T) {
	var b strings.Builder
	require.NoError(t, stream(strings.NewReader(timedOut), &b))
	require.Equal(t, "FAIL\tr\t3.0s\n--- UNFINISHED: TestHang (still running when r failed: timed out or crashed)\n"+
		"=== RUN   TestHang\npanic: test timed out after 3s\n", b.String())

	s, err := summarize(strings.NewReader(timedOut))
	require.NoError(t, err)
	require.Equal(t, 1, s.passed)
	require.Equal(t, []string{"r TestHang"}, s.failed, "a test its package's timeout ended failed")

	// A sub-package's test running at the same time (go test ./... interleaves packages) is not r's.
	sub := `{"Action":"run","Package":"r/s","Test":"TestOther"}
{"Action":"output","Package":"r/s","Test":"TestOther","Output":"=== RUN   TestOther\n"}
`
	b.Reset()
	require.NoError(t, stream(strings.NewReader(sub+timedOut), &b))
	require.Equal(t, "FAIL\tr\t3.0s\n--- UNFINISHED: TestHang (still running when r failed: timed out or crashed)\n"+
		"=== RUN   TestHang\npanic: test timed out after 3s\n", b.String())
}

func TestStream(t *testing.T) {
	in := fullRun + `{"Action":"output","Package":"q","Output":"FAIL\tq\t0.1s\n"}` + "\n" +
		`{"Action":"output","Package":"q","Test":"TestBroken","Output":"    x_test.go:1: boom\n"}` + "\n" +
		`{"Action":"fail","Package":"q","Test":"TestBroken"}` + "\n"
	var b strings.Builder
	require.NoError(t, stream(strings.NewReader(in), &b))
	require.Equal(t, "not json: passes through\nFAIL\tq\t0.1s\n    x_test.go:1: boom\n", b.String())
}
