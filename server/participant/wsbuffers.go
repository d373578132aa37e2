package participant

import (
	"bufio"
	"net"
	"net/http"
)

// Per-socket buffer sizes. net/http hands a hijacked connection over with a
// 4 KiB reader and a fresh 4 KiB writer, kept for the socket's life: 8 KiB
// of every connected member. Room frames are small (a join, a leave, a
// signal of at most 4 KiB), so smaller buffers cost an extra system call
// only for the rare large frame.
const (
	socketReadBuffer  = 1 << 10
	socketWriteBuffer = 2 << 10
)

// smallBuffers is the ResponseWriter given to websocket.Accept: its Hijack
// swaps net/http's buffers for smaller ones. Bytes the client already sent
// stay readable: a reader holding buffered data is kept as it is.
type smallBuffers struct{ http.ResponseWriter }

func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	r := brw.Reader
	if r.Buffered() == 0 {
		r = bufio.NewReaderSize(c, socketReadBuffer)
	}
	if err := brw.Writer.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, bufio.NewReadWriter(r, bufio.NewWriterSize(c, socketWriteBuffer)), nil
}
