package driver

// pending is the one list of messages sent and not yet acknowledged by the
// server, kept from the driver's own events: a Sent adds a message (queued
// or written), a Resent adds those a new session sent again (also those of
// a state file), an Acked removes them. The caller guards it.
type pending struct {
	queued map[string]bool // id -> held until online
	// early holds ids acknowledged before their Sent was seen (the client
	// emits Sent after writing, and the session may read the <a/> first),
	// so that the late Sent does not add them again.
	early map[string]bool
}

// note updates the list with e.
func (p *pending) note(e Event) {
	if p.queued == nil {
		p.queued, p.early = map[string]bool{}, map[string]bool{}
	}
	switch e := e.(type) {
	case Sent:
		if p.early[e.Message.ID] {
			delete(p.early, e.Message.ID)
			return
		}
		p.queued[e.Message.ID] = e.Queued
	case Resent:
		for _, id := range e.IDs {
			p.queued[id] = false
		}
	case Acked:
		for _, id := range e.IDs {
			queued, ok := p.queued[id]
			delete(p.queued, id)
			if !ok || queued {
				// Its Sent has not come yet, or (for a message held
				// offline) the Sent of it going out.
				p.early[id] = true
			}
		}
	}
}

// count returns how many are queued and how many written and unconfirmed.
func (p *pending) count() (queued, unacked int) {
	for _, q := range p.queued {
		if q {
			queued++
		} else {
			unacked++
		}
	}
	return queued, unacked
}
