package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// aws-chunked framing (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html):
//
//	<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n   ... repeated, then a zero-size final chunk
//	0[;chunk-signature=<sig>]\r\n
//	[<trailer name>:<value>\r\n ... [x-amz-trailer-signature:<sig>\r\n]]
//	\r\n
//
// Each chunk signature signs the chunk's hash chained to the previous signature, starting from the request's
// own (the seed); the trailer signature chains from the final chunk's.

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// maxChunkLine bounds a chunk header or trailer line; a longer one is not aws-chunked framing.
const maxChunkLine = 4096

// crc64NVME is the CRC-64/NVME polynomial (reversed), the x-amz-checksum-crc64nvme algorithm.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// newChecksum returns the hash behind an x-amz-checksum-* trailer, or nil for one this package does not know.
func newChecksum(name string) hash.Hash {
	switch name {
	case "x-amz-checksum-crc32":
		return crc32.NewIEEE()
	case "x-amz-checksum-crc32c":
		return crc32.New(castagnoli)
	case "x-amz-checksum-crc64nvme":
		return crc64.New(crc64NVME)
	case "x-amz-checksum-sha1":
		return sha1.New()
	case "x-amz-checksum-sha256":
		return sha256.New()
	}
	return nil
}

type checksum struct {
	name string
	h    hash.Hash
}

// chunkedReader decodes an aws-chunked body, checking chunk signatures, trailer signature, trailer checksums
// and the declared decoded length. Its first failure sticks.
type chunkedReader struct {
	src    *bufio.Reader
	closer io.Closer

	signed  bool // chunks carry signatures
	trailer bool // trailers follow the final chunk (signed when signed is)
	key     []byte
	amzDate string
	scope   string
	prev    [32]byte // the last signature in the chain
	res     *Result

	declaredLen int64
	declared    []string // trailer names announced by x-amz-trailer
	sums        []checksum
	remaining   int64 // data bytes left in the current chunk
	chunkSig    [32]byte
	chunkHash   hash.Hash
	decoded     int64
	err         error
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, maxChunkLine) }

func (c *chunkedReader) init(r *http.Request) *Error {
	c.declaredLen = -1
	if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 {
			return fail(Malformed, "x-amz-decoded-content-length is not a length: "+d)
		}
		c.declaredLen = n
	}
	if c.trailer {
		for _, v := range r.Header.Values("X-Amz-Trailer") {
			for _, name := range strings.Split(v, ",") {
				name = strings.ToLower(strings.TrimSpace(name))
				if name == "" {
					continue
				}
				c.declared = append(c.declared, name)
				if h := newChecksum(name); h != nil {
					c.sums = append(c.sums, checksum{name, h})
				}
			}
		}
	}
	if c.signed {
		c.chunkHash = sha256.New()
	}
	return nil
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.err == nil && c.remaining == 0 {
		c.err = c.nextChunk()
	}
	if c.err != nil {
		return 0, c.err
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.src.Read(p)
	c.remaining -= int64(n)
	c.decoded += int64(n)
	if c.signed {
		c.chunkHash.Write(p[:n])
	}
	for _, s := range c.sums {
		s.h.Write(p[:n])
	}
	switch {
	case c.declaredLen >= 0 && c.decoded > c.declaredLen:
		c.err = fail(IncompleteBody, "the aws-chunked body is longer than x-amz-decoded-content-length")
	case n == 0 && err != nil:
		c.err = bodyError(err)
	case c.remaining == 0:
		c.err = c.endChunk()
	}
	if c.err != nil {
		return 0, c.err // the chunk's last bytes are withheld: its signature does not hold
	}
	return n, nil
}

func (c *chunkedReader) Close() error {
	if c.closer != nil {
		return c.closer.Close()
	}
	return nil
}

// bodyError turns the end of the underlying body in mid-frame into IncompleteBody.
func bodyError(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fail(IncompleteBody, "the aws-chunked body ended early")
	}
	return err
}

// line reads one CRLF-terminated line without its terminator.
func (c *chunkedReader) line() (string, error) {
	l, err := c.src.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", fail(IncompleteBody, "an aws-chunked header line is too long")
	}
	if err != nil {
		if err == io.EOF && len(l) == 0 {
			return "", io.EOF
		}
		return "", bodyError(err)
	}
	l = bytes.TrimSuffix(l[:len(l)-1], []byte{'\r'})
	return string(l), nil
}

// nextChunk reads a chunk header; at the final chunk it reads the trailers, runs the end checks and
// returns io.EOF.
func (c *chunkedReader) nextChunk() error {
	l, err := c.line()
	if err != nil {
		return bodyError(err)
	}
	size, ext, _ := strings.Cut(l, ";")
	n, perr := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
	if perr != nil || n < 0 {
		return fail(IncompleteBody, "invalid aws-chunked chunk size "+strconv.Quote(size))
	}
	if c.signed {
		sig, found := strings.CutPrefix(ext, "chunk-signature=")
		var ok bool
		if c.chunkSig, ok = decodeSig(sig); !ok || !found {
			return fail(SignatureMismatch, "missing or malformed chunk-signature")
		}
		c.chunkHash.Reset()
	}
	if n > 0 {
		c.remaining = n
		return nil
	}
	if c.signed {
		if err := c.checkChunkSig(); err != nil {
			return err
		}
	}
	if err := c.readTrailers(); err != nil {
		return err
	}
	if c.declaredLen >= 0 && c.decoded != c.declaredLen {
		return fail(IncompleteBody, "the aws-chunked body is shorter than x-amz-decoded-content-length")
	}
	return io.EOF
}

// endChunk reads the CRLF after a chunk's data and checks the chunk's signature.
func (c *chunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.src, crlf[:]); err != nil {
		return bodyError(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return fail(IncompleteBody, "an aws-chunked chunk is longer than its size")
	}
	if c.signed {
		return c.checkChunkSig()
	}
	return nil
}

func (c *chunkedReader) checkChunkSig() error {
	var sum [32]byte
	c.chunkHash.Sum(sum[:0])
	want := c.chainSig("AWS4-HMAC-SHA256-PAYLOAD", emptySHA256+"\n"+hex.EncodeToString(sum[:]))
	if !hmac.Equal(want[:], c.chunkSig[:]) {
		return fail(SignatureMismatch, msgS3Signature)
	}
	c.prev = want
	return nil
}

// chainSig signs "<kind>\n<date>\n<scope>\n<previous signature>\n<tail>".
func (c *chunkedReader) chainSig(kind, tail string) [32]byte {
	mac := hmac.New(sha256.New, c.key)
	io.WriteString(mac, kind+"\n"+c.amzDate+"\n"+c.scope+"\n"+hex.EncodeToString(c.prev[:])+"\n"+tail)
	var sig [32]byte
	mac.Sum(sig[:0])
	return sig
}

// readTrailers reads what follows the final chunk up to the closing empty line.
func (c *chunkedReader) readTrailers() error {
	var canonical strings.Builder
	var trailerSig string
	for {
		l, err := c.line()
		if err == io.EOF || err == nil && l == "" {
			break // some clients end the body right after the last trailer
		}
		if err != nil {
			return err
		}
		if !c.trailer {
			return fail(IncompleteBody, "trailers in an aws-chunked body that announced none")
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return fail(IncompleteBody, "malformed aws-chunked trailer "+strconv.Quote(l))
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			trailerSig = value
			continue
		}
		if c.res.Trailer == nil {
			c.res.Trailer = make(http.Header)
		}
		c.res.Trailer[http.CanonicalHeaderKey(name)] = append(c.res.Trailer[http.CanonicalHeaderKey(name)], value)
		canonical.WriteString(name + ":" + value + "\n")
	}
	if c.signed && c.trailer {
		got, ok := decodeSig(trailerSig)
		sum := sha256.Sum256([]byte(canonical.String()))
		want := c.chainSig("AWS4-HMAC-SHA256-TRAILER", hex.EncodeToString(sum[:]))
		if !ok || !hmac.Equal(got[:], want[:]) {
			return fail(SignatureMismatch, msgS3Signature)
		}
	}
	for _, name := range c.declared {
		if c.res.Trailer.Get(name) == "" {
			return fail(IncompleteBody, "the trailer "+name+" announced in x-amz-trailer is missing")
		}
	}
	for _, s := range c.sums {
		if base64.StdEncoding.EncodeToString(s.h.Sum(nil)) != c.res.Trailer.Get(s.name) {
			alg := strings.ToUpper(strings.TrimPrefix(s.name, "x-amz-checksum-"))
			return fail(ChecksumMismatch, "The "+alg+" you specified did not match the calculated checksum.")
		}
	}
	return nil
}
