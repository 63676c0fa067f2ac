package admin

import (
	"bufio"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// A streamed import (POST /api/claims/import?progress=1) answers with JSON lines: progress after each
// recorded chunk of rows (and every few seconds while one is under way, so the client knows the daemon
// is working), then the result, or an error. The CLI waits as long as lines keep coming: a 50,000-row
// import takes as long as it takes, never failing on a client-side deadline. If the client goes away,
// the rows not yet recorded stay to do (gateway.ClaimManyProgress).

// ImportLine is one line of a streamed import.
type ImportLine struct {
	Progress *ImportProgress `json:"progress,omitempty"`
	Result   *ImportResult   `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// ImportProgress says how many rows are done of how many.
type ImportProgress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// ImportHeartbeat is how often a streamed import repeats its progress while a chunk is under way.
const ImportHeartbeat = 5 * time.Second

func (s *Server) apiImportStream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	out := &lines{w: w, enc: json.NewEncoder(w)}
	stop := out.heartbeat(ImportHeartbeat)
	res, _, err := s.importCSV(r, http.MaxBytesReader(w, r.Body, s.opts.MaxCSVBytes), func(done, total int) {
		out.send(ImportLine{Progress: &ImportProgress{Done: done, Total: total}})
	})
	stop()
	if err != nil {
		out.send(ImportLine{Error: err.Error()})
		return
	}
	out.sendResult(res)
}

// lines writes JSON lines to a streamed response, one writer at a time, flushing each.
type lines struct {
	w    http.ResponseWriter
	mu   sync.Mutex
	enc  *json.Encoder
	last any
}

func (n *lines) send(v any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last = v
	n.enc.Encode(v)
	if f, ok := n.w.(http.Flusher); ok {
		f.Flush()
	}
}

// sendResult writes the result line a row at a time (see writeImportResult).
func (n *lines) sendResult(res ImportResult) {
	n.mu.Lock()
	defer n.mu.Unlock()
	bw := bufio.NewWriterSize(n.w, 64<<10)
	bw.WriteString(`{"result":`)
	encodeImportResult(bw, res)
	bw.WriteString("}\n")
	bw.Flush()
	if f, ok := n.w.(http.Flusher); ok {
		f.Flush()
	}
}

// heartbeat repeats the last line every d (nothing before the first) until the returned stop is called.
func (n *lines) heartbeat(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n.mu.Lock()
				last := n.last
				n.mu.Unlock()
				if last != nil {
					n.send(last)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
