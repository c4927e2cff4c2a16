package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
)

// A frame is a JSON header followed by binary blobs, so payloads and files travel without base64:
// u32 total length, u32 header length, header, blobs in header order.
const maxFrame = 1 << 30

type header struct {
	T     string          `json:"t"`
	Blobs []int           `json:"blobs,omitempty"`
	Body  json.RawMessage `json:"body,omitempty"`
}

type frame struct {
	T     string
	Body  json.RawMessage
	Blobs [][]byte
}

func writeFrame(w io.Writer, t string, body interface{}, blobs ...[]byte) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	h := header{T: t, Body: raw}
	for _, b := range blobs {
		h.Blobs = append(h.Blobs, len(b))
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return err
	}
	total := 4 + len(hj)
	for _, b := range blobs {
		total += len(b)
	}
	if total > maxFrame {
		return errors.New("frame too large")
	}
	pre := make([]byte, 8)
	binary.BigEndian.PutUint32(pre[0:4], uint32(total))
	binary.BigEndian.PutUint32(pre[4:8], uint32(len(hj)))
	buf := append(pre, hj...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	for _, b := range blobs {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func readFrame(r io.Reader) (*frame, error) {
	pre := make([]byte, 8)
	if _, err := io.ReadFull(r, pre); err != nil {
		return nil, err
	}
	total := int(binary.BigEndian.Uint32(pre[0:4]))
	hl := int(binary.BigEndian.Uint32(pre[4:8]))
	if total > maxFrame || hl > total-4 || hl > 1<<20 {
		return nil, errors.New("bad frame length")
	}
	hj := make([]byte, hl)
	if _, err := io.ReadFull(r, hj); err != nil {
		return nil, err
	}
	var h header
	if err := json.Unmarshal(hj, &h); err != nil {
		return nil, err
	}
	rest := total - 4 - hl
	f := &frame{T: h.T, Body: h.Body}
	for _, n := range h.Blobs {
		if n < 0 || n > rest {
			return nil, errors.New("bad blob length")
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		rest -= n
		f.Blobs = append(f.Blobs, b)
	}
	if rest != 0 {
		return nil, errors.New("frame has trailing bytes")
	}
	return f, nil
}
