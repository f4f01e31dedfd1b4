package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// keyCacheSize bounds the derived-key cache. A key is good for one day, region and service, so a busy server
// holds a few entries per active access key.
const keyCacheSize = 4096

type keyID struct{ secret, date, region, service string }

// keyCache holds derived signing keys: deriving one costs four HMACs, more than verifying the request itself.
type keyCache struct {
	mu   sync.Mutex
	keys map[keyID][]byte
}

func (c *keyCache) get(secret, date, region, service string) []byte {
	id := keyID{secret, date, region, service}
	c.mu.Lock()
	k, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = deriveKey(secret, date, region, service)
	c.mu.Lock()
	if c.keys == nil {
		c.keys = make(map[keyID][]byte)
	}
	if len(c.keys) >= keyCacheSize {
		// Evict an arbitrary entry: map order is random enough, and stale days age out this way too.
		for old := range c.keys {
			delete(c.keys, old)
			break
		}
	}
	c.keys[id] = k
	c.mu.Unlock()
	return k
}

func deriveKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
