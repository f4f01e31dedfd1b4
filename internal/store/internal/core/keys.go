// Package core is what the store implementations share so that their semantics cannot drift: the byte
// layout of keys, the validation of transactions, the Expect rule, and the watch hub. It holds no records.
package core

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/overcast-cloud/overcast/internal/store"
)

// MaxKeySize bounds an encoded key; it is bbolt's limit, so the memory store refuses what bolt would.
const MaxKeySize = 32 << 10

// The layout is kind, account and region, each as a uvarint length and its bytes, then the raw ID. Length
// prefixes make every scope prefix-free (account "1" never captures account "12", kind "ec2/instance" never
// captures "ec2/instances") without forbidding any byte in a name, and IDs last make a scope's records one
// contiguous range ordered by ID. Kind comes first so a controller's AllAccounts prefix is a range too.

// EncodeKey lays out k, or says why it is not a valid key.
func EncodeKey(k store.Key) ([]byte, error) {
	if k.Kind == "" || k.ID == "" {
		return nil, fmt.Errorf("store: key %q: kind and id are required", k.String())
	}
	b := make([]byte, 0, 3*binary.MaxVarintLen16+len(k.Kind)+len(k.Account)+len(k.Region)+len(k.ID))
	b = appendPart(b, k.Kind)
	b = appendPart(b, k.Account)
	b = appendPart(b, k.Region)
	b = append(b, k.ID...)
	if len(b) > MaxKeySize {
		return nil, fmt.Errorf("store: key %q: longer than %d bytes", k.String(), MaxKeySize)
	}
	return b, nil
}

// EncodePrefix lays out the first bytes shared by every key under p.
func EncodePrefix(p store.Prefix) ([]byte, error) {
	if p.Kind == "" {
		return nil, errors.New("store: prefix: kind is required")
	}
	b := appendPart(nil, p.Kind)
	if p.AllAccounts {
		return b, nil
	}
	b = appendPart(b, p.Account)
	b = appendPart(b, p.Region)
	return append(b, p.IDPrefix...), nil
}

// DecodeKey reverses EncodeKey.
func DecodeKey(b []byte) (store.Key, error) {
	var k store.Key
	var ok bool
	if k.Kind, b, ok = part(b); !ok {
		return k, errors.New("store: malformed key")
	}
	if k.Account, b, ok = part(b); !ok {
		return k, errors.New("store: malformed key")
	}
	if k.Region, b, ok = part(b); !ok {
		return k, errors.New("store: malformed key")
	}
	k.ID = string(b)
	return k, nil
}

func appendPart(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func part(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", nil, false
	}
	end := w + int(n)
	return string(b[w:end]), b[end:], true
}
