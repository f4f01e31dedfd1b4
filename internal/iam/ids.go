package iam

import (
	"crypto/rand"
	"encoding/base64"
)

// Unique id prefixes AWS uses, by resource.
const (
	PrefixUser            = "AIDA"
	PrefixRole            = "AROA"
	PrefixGroup           = "AGPA"
	PrefixPolicy          = "ANPA"
	PrefixInstanceProfile = "AIPA"
	PrefixAccessKey       = "AKIA"
	PrefixSessionKey      = "ASIA"
)

// AWS ids draw from the base32 alphabet: upper-case letters and the digits 2 to 7.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// NewID returns a unique id with prefix and 17 further characters, as AWS's AIDA.../AROA... ids.
func NewID(prefix string) string { return prefix + randomFrom(idAlphabet, 17) }

// NewAccessKeyID returns a long-term access key id (AKIA + 16).
func NewAccessKeyID() string { return PrefixAccessKey + randomFrom(idAlphabet, 16) }

// NewSessionKeyID returns a temporary access key id (ASIA + 16).
func NewSessionKeyID() string { return PrefixSessionKey + randomFrom(idAlphabet, 16) }

// NewSecret returns a 40-character secret access key.
func NewSecret() string {
	return randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
}

// NewSessionToken returns an opaque session token of the length AWS's tokens have.
func NewSessionToken() string {
	b := make([]byte, 240)
	rand.Read(b)
	return "IQoJb3JpZ2luX2Vj" + base64.StdEncoding.EncodeToString(b)
}
