package vsock

// Serial mux wire format.
//
// Every frame is a 20-byte header followed by a payload:
//
//	off len field
//	 0   2  magic 0xB6 0x67
//	 2   1  type (frameType)
//	 3   1  flags, must be 0
//	 4   4  stream id, big endian (0 for link frames HELLO and RESET)
//	 8   4  payload length, big endian, at most maxPayload
//	12   4  CRC-32C of the payload
//	16   4  CRC-32C of header bytes 0..15
//
// The header checksum lets a side that lost framing (a host that attached in
// the middle of a guest write, a guest agent that restarted) scan forward for
// the next real frame without trusting a random length field; the payload
// checksum makes a damaged frame a detected error instead of silent stream
// corruption. Once in sync, any invalid frame is a link error: the host drops
// the connection and redials, the guest drops its streams and hunts for the
// next HELLO.
//
// Session protocol: the host sends HELLO{version, nonce} (repeated until
// answered); the guest drops every stream, echoes the HELLO and is in sync.
// The host then opens streams with OPEN{port}; the guest answers OPEN_OK or
// OPEN_REFUSED{reason}. DATA is flow controlled per stream: each side may
// have at most initialWindow unacknowledged bytes in flight and the reader
// returns credit with WINDOW{increment}. CLOSE_WRITE is a half-close, CLOSE
// says the sender is done with the stream entirely. The guest sends RESET
// when it (re)opens the port and when it sees frames from a session it does
// not know, which makes a host holding a stale session reconnect.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

type frameType uint8

const (
	frameHello       frameType = 1
	frameReset       frameType = 2
	frameOpen        frameType = 3
	frameOpenOK      frameType = 4
	frameOpenRefused frameType = 5
	frameData        frameType = 6
	frameWindow      frameType = 7
	frameCloseWrite  frameType = 8
	frameClose       frameType = 9
)

func (t frameType) String() string {
	switch t {
	case frameHello:
		return "HELLO"
	case frameReset:
		return "RESET"
	case frameOpen:
		return "OPEN"
	case frameOpenOK:
		return "OPEN_OK"
	case frameOpenRefused:
		return "OPEN_REFUSED"
	case frameData:
		return "DATA"
	case frameWindow:
		return "WINDOW"
	case frameCloseWrite:
		return "CLOSE_WRITE"
	case frameClose:
		return "CLOSE"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

const (
	magic0 = 0xB6
	magic1 = 0x67

	headerLen = 20
	// maxPayload bounds a frame so a decoder never buffers more than this
	// much for one frame, whatever the length field claims.
	maxPayload = 32 << 10
	// maxReason bounds RESET and OPEN_REFUSED texts.
	maxReason = 256

	protocolVersion = 1
	helloLen        = 9 // version byte + 8-byte nonce
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a frame that is not valid; in sync it is a link error.
var errCorrupt = errors.New("corrupt frame")

// Preallocated because a hunting decoder meets them at every garbage byte.
var (
	errBadMagic     = fmt.Errorf("%w: bad magic", errCorrupt)
	errBadHeaderSum = fmt.Errorf("%w: header checksum mismatch", errCorrupt)
)

type frame struct {
	typ     frameType
	stream  uint32
	payload []byte
}

// appendFrame encodes f onto buf. It panics on a payload larger than
// maxPayload: that is a bug in this package, never input from the peer.
func appendFrame(buf []byte, f frame) []byte {
	if len(f.payload) > maxPayload {
		panic("vsock: frame payload too large")
	}
	var h [headerLen]byte
	h[0], h[1] = magic0, magic1
	h[2] = byte(f.typ)
	binary.BigEndian.PutUint32(h[4:], f.stream)
	binary.BigEndian.PutUint32(h[8:], uint32(len(f.payload)))
	binary.BigEndian.PutUint32(h[12:], crc32c(f.payload))
	binary.BigEndian.PutUint32(h[16:], crc32c(h[:16]))
	buf = append(buf, h[:]...)
	return append(buf, f.payload...)
}

// checkHeader validates a header; it returns the payload length.
func checkHeader(h []byte) (int, error) {
	if h[0] != magic0 || h[1] != magic1 {
		return 0, errBadMagic
	}
	if binary.BigEndian.Uint32(h[16:]) != crc32c(h[:16]) {
		return 0, errBadHeaderSum
	}
	if h[3] != 0 {
		return 0, fmt.Errorf("%w: unknown flags %#x", errCorrupt, h[3])
	}
	n := binary.BigEndian.Uint32(h[8:])
	if n > maxPayload {
		return 0, fmt.Errorf("%w: payload length %d exceeds %d", errCorrupt, n, maxPayload)
	}
	return int(n), nil
}

// checkShape enforces the per-type rules on stream id and payload size.
func checkShape(f frame) error {
	n := len(f.payload)
	link := f.stream == 0
	ok := false
	switch f.typ {
	case frameHello:
		ok = link && n == helloLen
	case frameReset:
		ok = link && n <= maxReason
	case frameOpen, frameWindow:
		ok = !link && n == 4
	case frameOpenOK, frameCloseWrite, frameClose:
		ok = !link && n == 0
	case frameOpenRefused:
		ok = !link && n <= maxReason
	case frameData:
		ok = !link && n > 0
	default:
		return fmt.Errorf("%w: unknown frame type %d", errCorrupt, uint8(f.typ))
	}
	if !ok {
		return fmt.Errorf("%w: malformed %s (stream %d, %d payload bytes)", errCorrupt, f.typ, f.stream, n)
	}
	return nil
}

// decoder reads frames from the link. In strict mode (in sync) any invalid
// byte is an error; in hunting mode invalid bytes are skipped one at a time
// until a complete valid frame is found.
type decoder struct {
	r *bufio.Reader
}

func newDecoder(r io.Reader) *decoder {
	return &decoder{r: bufio.NewReaderSize(r, headerLen+maxPayload)}
}

// next returns the next frame. The payload is a fresh copy the caller may
// keep. Errors other than errCorrupt come from the underlying reader.
func (d *decoder) next(hunting bool) (frame, error) {
	for {
		f, size, err := d.peekFrame()
		if err == nil {
			f.payload = append([]byte(nil), f.payload...)
			if _, err := d.r.Discard(size); err != nil {
				return frame{}, err
			}
			return f, nil
		}
		if !errors.Is(err, errCorrupt) || !hunting {
			return frame{}, err
		}
		if err := d.skip(); err != nil {
			return frame{}, err
		}
	}
}

// skip drops the byte at which no frame starts and everything buffered up
// to the next possible start of a frame.
func (d *decoder) skip() error {
	if _, err := d.r.Discard(1); err != nil {
		return err
	}
	buf, _ := d.r.Peek(d.r.Buffered())
	n := bytes.IndexByte(buf, magic0)
	if n < 0 {
		n = len(buf)
	}
	_, err := d.r.Discard(n)
	return err
}

func (d *decoder) peekFrame() (frame, int, error) {
	h, err := d.r.Peek(headerLen)
	if err != nil {
		return frame{}, 0, eofIsUnexpected(err, len(h))
	}
	n, err := checkHeader(h)
	if err != nil {
		return frame{}, 0, err
	}
	b, err := d.r.Peek(headerLen + n)
	if err != nil {
		return frame{}, 0, eofIsUnexpected(err, len(b))
	}
	payload := b[headerLen:]
	if got, want := binary.BigEndian.Uint32(b[12:]), crc32c(payload); got != want {
		return frame{}, 0, fmt.Errorf("%w: payload checksum mismatch", errCorrupt)
	}
	f := frame{typ: frameType(b[2]), stream: binary.BigEndian.Uint32(b[4:]), payload: payload}
	if err := checkShape(f); err != nil {
		return frame{}, 0, err
	}
	return f, headerLen + n, nil
}

// eofIsUnexpected turns an EOF in the middle of a frame into
// io.ErrUnexpectedEOF; a clean EOF between frames stays io.EOF.
func eofIsUnexpected(err error, got int) error {
	if err == io.EOF && got > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

func u32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func u32bytes(v uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, v)
}

func helloPayload(nonce uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{protocolVersion}, nonce)
}

// parseHello returns the nonce of a HELLO payload (shape already checked).
func parseHello(p []byte) (version byte, nonce uint64) {
	return p[0], binary.BigEndian.Uint64(p[1:])
}

func reasonPayload(s string) []byte {
	if len(s) > maxReason {
		s = s[:maxReason]
	}
	return []byte(s)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crcTable) }
