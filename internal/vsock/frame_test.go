package vsock

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func sampleFrames() []frame {
	return []frame{
		{typ: frameHello, payload: helloPayload(0x0102030405060708)},
		{typ: frameReset, payload: []byte("guest port reopened")},
		{typ: frameReset},
		{typ: frameOpen, stream: 1, payload: u32bytes(10700)},
		{typ: frameOpenOK, stream: 1},
		{typ: frameOpenRefused, stream: 2, payload: []byte("no listener on port 9")},
		{typ: frameData, stream: 1, payload: bytes.Repeat([]byte("x"), maxPayload)},
		{typ: frameData, stream: 7, payload: []byte{0}},
		{typ: frameWindow, stream: 1, payload: u32bytes(4096)},
		{typ: frameCloseWrite, stream: 1},
		{typ: frameClose, stream: 1},
	}
}

func encodeAll(fs []frame) []byte {
	var b []byte
	for _, f := range fs {
		b = appendFrame(b, f)
	}
	return b
}

func sameFrame(a, b frame) bool {
	return a.typ == b.typ && a.stream == b.stream && bytes.Equal(a.payload, b.payload)
}

func TestFrameRoundTrip(t *testing.T) {
	want := sampleFrames()
	d := newDecoder(bytes.NewReader(encodeAll(want)))
	for i, w := range want {
		got, err := d.next(false)
		if err != nil {
			t.Fatalf("frame %d (%s): %v", i, w.typ, err)
		}
		if !sameFrame(got, w) {
			t.Fatalf("frame %d: got %s stream %d len %d, want %s stream %d len %d",
				i, got.typ, got.stream, len(got.payload), w.typ, w.stream, len(w.payload))
		}
	}
	if _, err := d.next(false); err != io.EOF {
		t.Fatalf("after the last frame: got %v, want io.EOF", err)
	}
}

func TestDecoderStrictRejects(t *testing.T) {
	valid := appendFrame(nil, frame{typ: frameData, stream: 3, payload: []byte("hello")})
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	cases := map[string][]byte{
		"bad magic":            mutate(func(b []byte) []byte { b[0] = 'G'; return b }),
		"header bit flip":      mutate(func(b []byte) []byte { b[5] ^= 1; return b }),
		"payload bit flip":     mutate(func(b []byte) []byte { b[headerLen] ^= 0x80; return b }),
		"garbage text":         []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"unknown type":         encodeAll([]frame{{typ: 99, stream: 1}}),
		"data on stream 0":     encodeAll([]frame{{typ: frameData, payload: []byte("x")}}),
		"empty data":           encodeAll([]frame{{typ: frameData, stream: 1}}),
		"short hello":          encodeAll([]frame{{typ: frameHello, payload: []byte{1}}}),
		"open without port":    encodeAll([]frame{{typ: frameOpen, stream: 1}}),
		"window on stream 0":   encodeAll([]frame{{typ: frameWindow, payload: u32bytes(1)}}),
		"close with payload":   encodeAll([]frame{{typ: frameClose, stream: 1, payload: []byte("x")}}),
		"reset with stream id": encodeAll([]frame{{typ: frameReset, stream: 4}}),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := newDecoder(bytes.NewReader(in)).next(false)
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("got %v, want errCorrupt", err)
			}
		})
	}
}

func TestDecoderRejectsOversizedLength(t *testing.T) {
	// A header whose checksum is right but whose length is beyond the
	// bound must not make the decoder wait for (or buffer) that much.
	b := appendFrame(nil, frame{typ: frameData, stream: 1, payload: []byte("x")})
	b[8], b[9], b[10], b[11] = 0x7f, 0xff, 0xff, 0xff
	fixHeaderCRC(b)
	_, err := newDecoder(bytes.NewReader(b)).next(false)
	if !errors.Is(err, errCorrupt) {
		t.Fatalf("got %v, want errCorrupt", err)
	}
}

func fixHeaderCRC(b []byte) {
	c := crc32c(b[:16])
	b[16], b[17], b[18], b[19] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
}

func TestDecoderTruncated(t *testing.T) {
	b := appendFrame(nil, frame{typ: frameData, stream: 1, payload: []byte("hello")})
	for _, cut := range []int{1, headerLen - 1, headerLen, len(b) - 1} {
		_, err := newDecoder(bytes.NewReader(b[:cut])).next(false)
		if err != io.ErrUnexpectedEOF {
			t.Errorf("cut at %d: got %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

func TestDecoderHuntingFindsFramesInGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 10000)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	// Sprinkle fake magics and a truncated real frame, the way a host that
	// attaches mid-write sees the tail of an old frame.
	for i := 0; i < len(garbage)-2; i += 97 {
		garbage[i], garbage[i+1] = magic0, magic1
	}
	old := appendFrame(nil, frame{typ: frameData, stream: 9, payload: bytes.Repeat([]byte("old"), 100)})
	in := append(append(garbage, old[7:]...), encodeAll(sampleFrames())...)

	d := newDecoder(bytes.NewReader(in))
	for i, w := range sampleFrames() {
		got, err := d.next(true)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !sameFrame(got, w) {
			t.Fatalf("frame %d: got %s, want %s", i, got.typ, w.typ)
		}
	}
}

// FuzzDecoder feeds arbitrary bytes to the decoder in both modes: it must
// never panic, never return a frame that breaks the shape rules, and every
// frame it returns must re-encode to something it decodes identically.
func FuzzDecoder(f *testing.F) {
	f.Add(encodeAll(sampleFrames()))
	f.Add([]byte("CONNECT 10700\n"))
	f.Add(append([]byte{magic0, magic1, byte(frameData), 0}, make([]byte, 40)...))
	valid := appendFrame(nil, frame{typ: frameOpen, stream: 1, payload: u32bytes(1)})
	f.Add(valid[:headerLen+1])
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, hunting := range []bool{false, true} {
			d := newDecoder(bytes.NewReader(data))
			for range 1000 {
				fr, err := d.next(hunting)
				if err != nil {
					if !hunting && !errors.Is(err, errCorrupt) && err != io.EOF && err != io.ErrUnexpectedEOF {
						t.Fatalf("unexpected error kind: %v", err)
					}
					break
				}
				if err := checkShape(fr); err != nil {
					t.Fatalf("decoder returned a malformed frame: %v", err)
				}
				again, err := newDecoder(bytes.NewReader(appendFrame(nil, fr))).next(false)
				if err != nil || !sameFrame(again, fr) {
					t.Fatalf("re-encoded %s does not decode back: %v", fr.typ, err)
				}
			}
		}
	})
}
