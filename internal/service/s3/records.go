package s3

import (
	"time"

	"github.com/overcast-cloud/overcast/internal/store"
)

// Record kinds. Buckets live in the global scope (no account, no region) because their names are one
// namespace across every account and region; everything inside a bucket lives in the scope of the bucket's
// owner and region, so an account's records stay its own.
const (
	kindBucket = "s3/bucket"
	kindObject = "s3/object" // ID: bucket + "/" + key, so a bucket's objects are one range in key order
	kindUpload = "s3/upload" // ID: bucket + "/" + upload id
	kindPart   = "s3/part"   // ID: upload id + "/" + five-digit part number, so parts list in number order
)

// bucketRecord is a bucket.
type bucketRecord struct {
	Name    string
	Account string // the owner
	Region  string
	Created time.Time
	Tags    []tag `json:",omitempty"`
}

type tag struct{ Key, Value string }

func bucketKey(name string) store.Key { return store.Key{Kind: kindBucket, ID: name} }

// key of a record inside the bucket.
func (b *bucketRecord) key(kind, id string) store.Key {
	return store.Key{Account: b.Account, Region: b.Region, Kind: kind, ID: id}
}

func (b *bucketRecord) objectKey(key string) store.Key { return b.key(kindObject, b.Name+"/"+key) }

func (b *bucketRecord) objectPrefix(keyPrefix string) store.Prefix {
	return store.Prefix{Account: b.Account, Region: b.Region, Kind: kindObject, IDPrefix: b.Name + "/" + keyPrefix}
}

func (b *bucketRecord) uploadKey(uploadID string) store.Key {
	return b.key(kindUpload, b.Name+"/"+uploadID)
}

func (b *bucketRecord) uploadPrefix() store.Prefix {
	return store.Prefix{Account: b.Account, Region: b.Region, Kind: kindUpload, IDPrefix: b.Name + "/"}
}

// headers are what a client sets on an object when it writes it and gets back when it reads it.
type headers struct {
	ContentType             string            `json:",omitempty"`
	ContentEncoding         string            `json:",omitempty"`
	ContentDisposition      string            `json:",omitempty"`
	ContentLanguage         string            `json:",omitempty"`
	CacheControl            string            `json:",omitempty"`
	Expires                 string            `json:",omitempty"`
	WebsiteRedirectLocation string            `json:",omitempty"`
	Metadata                map[string]string `json:",omitempty"`
	StorageClass            string            `json:",omitempty"`
}

// objectRecord is an object. Its bytes are the body file named Body.
type objectRecord struct {
	Bucket       string
	Key          string
	Body         string // the id of the body file
	Size         int64
	ETag         string // quoted, as on the wire
	LastModified time.Time
	PartsCount   int32 `json:",omitempty"` // set for objects made by CompleteMultipartUpload
	headers
}

// uploadRecord is a multipart upload in progress; its parts are partRecords.
type uploadRecord struct {
	ID        string
	Bucket    string
	Key       string
	Initiated time.Time
	Initiator initiator
	headers
}

type initiator struct{ ID, DisplayName string }

func (b *bucketRecord) partKey(uploadID string, number int32) store.Key {
	return b.key(kindPart, partID(uploadID, number))
}

func (b *bucketRecord) partPrefix(uploadID string) store.Prefix {
	return store.Prefix{Account: b.Account, Region: b.Region, Kind: kindPart, IDPrefix: uploadID + "/"}
}

// partRecord is one uploaded part. Its bytes are the body file named Body.
type partRecord struct {
	Upload       string
	Number       int32
	Body         string
	Size         int64
	ETag         string // quoted
	MD5          []byte // the raw digest, which the multipart ETag is made of
	LastModified time.Time
}
