package main

// Request builders for the interop cases: a message padded to an exact encoded size, a random
// UUID (an order nobody placed), chat's join and send requests.

import (
	"crypto/rand"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	chatv1 "grpcpatterns/gen/chatv1"
)

// paddingTag is field 15, bytes: unknown to every message of this repo.
const paddingTag = (15 << 3) | 2

func varint(n int) []byte {
	var out []byte
	for n > 0x7f {
		out = append(out, byte(n&0x7f|0x80))
		n >>= 7
	}
	return append(out, byte(n))
}

// pad adds an unknown bytes field to m so that it encodes to exactly size bytes.
func pad(m proto.Message, size int) {
	base := proto.Size(m)
	for fill := size - base - 2; fill >= 0; fill-- {
		length := varint(fill)
		if base+1+len(length)+fill == size {
			raw := append([]byte{paddingTag}, length...)
			raw = append(raw, []byte(strings.Repeat("a", fill))...)
			m.ProtoReflect().SetUnknown(protoreflect.RawFields(raw))
			return
		}
	}
	panic("cannot pad")
}

func uuid4() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func join(room, user string) *chatv1.ChatRequest {
	return &chatv1.ChatRequest{Action: &chatv1.ChatRequest_Join{Join: &chatv1.JoinRoom{Room: room, User: user}}}
}

func send(text string) *chatv1.ChatRequest {
	return &chatv1.ChatRequest{Action: &chatv1.ChatRequest_Send{Send: &chatv1.SendMessage{Text: text}}}
}
