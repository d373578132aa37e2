package hub

import (
	"bufio"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// Socket is an accepted member socket: the WebSocket, which reads the
// client's frames and writes control frames (ping, pong, close), and the
// connection under it, on which the node writes room frames itself (see
// conn.flush).
type Socket struct {
	WS  *websocket.Conn
	raw net.Conn
}

// Per-socket buffer sizes. net/http hands a hijacked connection over with a
// 4 KiB reader and a 4 KiB writer, kept for the socket's life. The library's
// writer carries only control frames here (at most 131 bytes each, so each
// leaves in one write), and client frames are small (a signal of at most
// 4 KiB is read past the buffer in one go).
const (
	socketReadBuffer  = 512
	socketWriteBuffer = 256
)

// Accept upgrades the request to a member socket. It answers the request
// itself when the handshake is refused (403 for a foreign Origin, 400 for a
// bad handshake). Compression is off: room frames are small, and the node
// writes each event's frame, rendered once, to every socket as it is.
func Accept(w http.ResponseWriter, r *http.Request, originPatterns []string) (*Socket, error) {
	h := &hijacker{ResponseWriter: w}
	ws, err := websocket.Accept(h, r, &websocket.AcceptOptions{
		OriginPatterns:  originPatterns,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, err
	}
	return &Socket{WS: ws, raw: h.conn}, nil
}

// hijacker is the ResponseWriter given to websocket.Accept: its Hijack keeps
// the connection for the node and swaps net/http's buffers for smaller
// ones. Bytes the client already sent stay readable: a reader holding
// buffered data is kept as it is.
type hijacker struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
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
	h.conn = c
	return c, bufio.NewReadWriter(r, bufio.NewWriterSize(c, socketWriteBuffer)), nil
}

// wire frames a text message for the wire: the header of an unmasked,
// final text frame, then the payload. A node renders an event's wire frame
// once and writes the same bytes to every socket of the room.
func wire(payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n <= 125:
		b = make([]byte, 2, 2+n)
		b[1] = byte(n)
	case n <= 0xFFFF:
		b = make([]byte, 4, 4+n)
		b[1] = 126
		b[2], b[3] = byte(n>>8), byte(n)
	default:
		b = make([]byte, 10, 10+n)
		b[1] = 127
		for i := 0; i < 8; i++ {
			b[9-i] = byte(uint64(n) >> (8 * i))
		}
	}
	b[0] = 0x81 // FIN, text
	return append(b, payload...)
}
