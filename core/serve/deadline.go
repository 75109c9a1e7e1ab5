package serve

import (
	"net"
	"time"
)

// deadlineConn gives every write to a client a deadline on its progress:
// each writeChunk bytes must leave within timeout. A client reading a
// large result slowly but steadily is never cut off in the middle of it;
// one that takes nothing for timeout fails the write with
// os.ErrDeadlineExceeded. With timeout 0 (during the handshake, whose
// deadline auth sets) writes pass through.
type deadlineConn struct {
	net.Conn
	timeout time.Duration // set once, before the session's writer starts
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if c.timeout <= 0 {
		return c.Conn.Write(p)
	}
	var n int
	for len(p) > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return n, err
		}
		m, err := c.Conn.Write(p[:min(len(p), writeChunk)])
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}
