package outbox

// entry is the in-memory metadata of one queued message; its body stays in
// the store and is read on Next.
type entry struct {
	seq      uint64
	id       string
	ckey     string // coalescing key (device + Coalesce) of a State message, else ""
	dev      string // the device of a State message (its twin's order is kept), else ""
	size     int64
	attempts int // times handed out by Next (nacks persisted before a restart count too)
	nacks    int // persisted in bucketNacks
	class    Class
	inFlight bool
	// busy: a write (Put, Ack, Nack) has reserved this entry and its
	// transaction is running: Next must not hand it out (Next waits when
	// it is at the head, to keep order) and no other write may pick it.
	busy bool
	hidx [2]int // position in o.pending (0) and o.tele (1), -1 if absent
}

const (
	hPending = 0
	hTele    = 1
)

// seqHeap is a min-heap of entries by seq that knows each entry's position,
// so entries can be removed from the middle in O(log n). Put appends the
// largest seq, which costs O(1) here.
type seqHeap struct {
	which int
	items []*entry
}

func (h *seqHeap) len() int { return len(h.items) }

func (h *seqHeap) peek() *entry {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *seqHeap) push(e *entry) {
	e.hidx[h.which] = len(h.items)
	h.items = append(h.items, e)
	h.up(len(h.items) - 1)
}

func (h *seqHeap) pop() *entry {
	if len(h.items) == 0 {
		return nil
	}
	e := h.items[0]
	h.remove(e)
	return e
}

func (h *seqHeap) contains(e *entry) bool { return e.hidx[h.which] >= 0 }

func (h *seqHeap) remove(e *entry) {
	i := e.hidx[h.which]
	if i < 0 {
		return
	}
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	h.items[last] = nil
	h.items = h.items[:last]
	e.hidx[h.which] = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	if cap(h.items) > 1024 && len(h.items) < cap(h.items)/4 {
		h.items = append([]*entry(nil), h.items...) // give back memory after a big drain
	}
}

func (h *seqHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].hidx[h.which] = i
	h.items[j].hidx[h.which] = j
}

func (h *seqHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if h.items[i].seq <= h.items[j].seq {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *seqHeap) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.items[r].seq < h.items[l].seq {
			j = r
		}
		if h.items[j].seq >= h.items[i].seq {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
