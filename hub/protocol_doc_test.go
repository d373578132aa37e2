package hub_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"roomhub/hub"
)

// TestProtocolDocument holds docs/protocol.md to what the hub does: every
// frame type, leave reason, error code, close code and limit in the code is
// in the document with the value the code uses.
func TestProtocolDocument(t *testing.T) {
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	row := func(cell string) string { return "| `" + cell + "` |" }
	for _, typ := range []string{hub.TypeSnapshot, hub.TypeJoin, hub.TypeLeave, hub.TypeSignal, hub.TypeToken, hub.TypeError, hub.TypeVideo} {
		if !strings.Contains(doc, row(typ)) {
			t.Errorf("frame type %q is not in the server frame table", typ)
		}
	}
	for _, r := range []string{hub.ReasonLeft, hub.ReasonDisconnected, hub.ReasonExpired, hub.ReasonKicked, hub.ReasonClosed} {
		if !strings.Contains(doc, row(r)) {
			t.Errorf("leave reason %q is not documented", r)
		}
	}
	for _, c := range hub.ErrorCodes {
		if !strings.Contains(doc, row(c)) {
			t.Errorf("error code %q is not documented", c)
		}
	}
	for _, code := range []websocket.StatusCode{hub.CloseKicked, hub.CloseRoomClosed, hub.CloseNotMember, hub.CloseTooMany,
		websocket.StatusGoingAway, websocket.StatusUnsupportedData, websocket.StatusMessageTooBig, websocket.StatusTryAgainLater} {
		if !strings.Contains(doc, fmt.Sprintf("| %d |", int(code))) {
			t.Errorf("close code %d is not documented", int(code))
		}
	}
	limits := []string{
		fmt.Sprintf("pings every %d s", int(hub.DefaultPingInterval.Seconds())),
		fmt.Sprintf("within %d s is", int(hub.DefaultPingTimeout.Seconds())),
		fmt.Sprintf("send queue of %d frames", hub.DefaultSendQueue),
		fmt.Sprintf("at most %d sockets per node", hub.DefaultMaxConnsPerMember),
		fmt.Sprintf("over %d bytes", hub.DefaultMaxSignalBytes),
		fmt.Sprintf("at most %d KiB", hub.DefaultMaxFrameBytes>>10),
		fmt.Sprintf("more than %d signals per second (bucket of %d)", hub.DefaultSignalRate, hub.DefaultSignalBurst),
		fmt.Sprintf("default %d s", int(hub.DefaultGrace.Seconds())),
	}
	for _, l := range limits {
		if !strings.Contains(doc, l) {
			t.Errorf("protocol.md does not say %q", l)
		}
	}
}
