package socket

import (
	"net"
	"time"
)

// conn is a connection the Server tracks. Its fields are guarded by the
// Server's mu.
type conn struct {
	net.Conn
	// evicted: closed at the cap to admit a newer one.
	evicted bool
	// read: its worker has begun to read it, at readAt.
	read   bool
	readAt time.Time
	// prev and next link it into the list it is in (in), if any: the
	// Server's waiting list, from accept until its request is complete.
	prev, next *conn
	in         *connList
}

// connList is a doubly linked list of connections in accept order, oldest
// first: O(1) to append, to remove any one, and to find the oldest.
type connList struct {
	head, tail *conn
	n          int
}

func (l *connList) front() *conn { return l.head }

func (l *connList) pushBack(c *conn) {
	c.prev, c.next, c.in = l.tail, nil, l
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
}

// remove takes c out of the list it is in, if any.
func remove(c *conn) {
	l := c.in
	if l == nil {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next, c.in = nil, nil, nil
	l.n--
}
