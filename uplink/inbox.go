package uplink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/go-amqp"
)

// Inbox is a receiver with credit managed by hand, the way RabbitMQ 3.10 needs it (PEERS.md and
// edgegw-console's tests):
//   - go-amqp's automatic credit stalled with a backlog, so credit is issued by hand;
//   - topping up by one after each accept made RabbitMQ lose the accept of the last message before a
//     close now and then (9 of 20 runs; 0 of 48 with top-ups by halves): credit is topped up by halves;
//   - even so, a receiver facing a backlog stopped right after a top-up, with credit granted and
//     messages queued, for 5 s and more; one more credit (a fresh flow frame) gets it going again. After
//     a quiet spell of StallCheck the inbox grants one, at most MaxNudges per spell, so an idle
//     receiver's credit stays bounded (Credit + MaxNudges). Draining instead crashes RabbitMQ 3.10's
//     channel when the queue is empty (function_clause in rabbit_classic_queue send_drained).
//
// Used by one goroutine.
type Inbox struct {
	r           *amqp.Receiver
	addr        string
	credit      int
	outstanding int
	nudges      int
}

// Inbox tuning.
const (
	StallCheck = 250 * time.Millisecond
	MaxNudges  = 8
)

// OpenInbox attaches a receiver on addr (a durable source: RabbitMQ then declares a durable queue)
// and grants credit.
func OpenInbox(ctx context.Context, sess *amqp.Session, addr string, credit int) (*Inbox, error) {
	r, err := sess.NewReceiver(ctx, addr, &amqp.ReceiverOptions{Credit: -1, SourceDurability: amqp.DurabilityUnsettledState})
	if err != nil {
		return nil, fmt.Errorf("attach receiver to %s: %w", addr, err)
	}
	if err := r.IssueCredit(uint32(credit)); err != nil {
		return nil, fmt.Errorf("issue credit on %s: %w", addr, err)
	}
	return &Inbox{r: r, addr: addr, credit: credit, outstanding: credit}, nil
}

// Receiver is the underlying link.
func (in *Inbox) Receiver() *amqp.Receiver { return in.r }

// Receive waits for the next message until ctx ends (returning ctx's error as is, so a caller can tell
// a silence from a failure). The caller settles it with Accept.
func (in *Inbox) Receive(ctx context.Context) (*amqp.Message, error) {
	for {
		rctx, cancel := context.WithTimeout(ctx, StallCheck)
		msg, err := in.r.Receive(rctx, nil)
		cancel()
		if err == nil {
			in.outstanding--
			in.nudges = 0
			return msg, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("receive on %s: %w", in.addr, err)
		}
		if in.nudges < MaxNudges {
			if err := in.r.IssueCredit(1); err != nil {
				return nil, fmt.Errorf("issue credit on %s: %w", in.addr, err)
			}
			in.nudges++
			in.outstanding++
		}
	}
}

// Accept settles a message as accepted (even if ctx has just ended: it was received and handled) and
// tops the credit up once half of it is used.
func (in *Inbox) Accept(ctx context.Context, msg *amqp.Message) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := in.r.AcceptMessage(actx, msg); err != nil {
		return fmt.Errorf("accept on %s: %w", in.addr, err)
	}
	if in.outstanding > in.credit/2 {
		return nil
	}
	n := in.credit - in.outstanding
	if err := in.r.IssueCredit(uint32(n)); err != nil {
		return fmt.Errorf("issue credit on %s: %w", in.addr, err)
	}
	in.outstanding += n
	return nil
}
