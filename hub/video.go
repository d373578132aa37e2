package hub

import (
	"context"
	"strconv"
)

// TypeVideo is the frame telling a room that a member joined or left its
// Agora video channel, as Agora's notifications report it:
// {"type":"video","room":..,"seq":..,"uid":917,"in_video":true}.
const TypeVideo = "video"

// VideoMessage is the message saying whether uid is in the room's video.
func VideoMessage(uid uint32, in bool) Message {
	b := make([]byte, 0, 40)
	b = append(b, `"uid":`...)
	b = strconv.AppendUint(b, uint64(uid), 10)
	b = append(b, `,"in_video":`...)
	b = strconv.AppendBool(b, in)
	return Message{Type: TypeVideo, UID: uid, Body: b}
}

// PublishVideo tells the room's members, on every node, that uid joined or
// left the room's video.
func (n *Node) PublishVideo(ctx context.Context, k Key, uid uint32, in bool) error {
	_, err := n.bus.Publish(ctx, k, VideoMessage(uid, in))
	return err
}
