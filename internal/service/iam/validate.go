package iam

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/overcast-cloud/overcast/internal/apierr"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
)

// Constraints of the IAM model, quoted in AWS's validation messages.
const (
	namePattern       = `[\w+=,.@-]+`
	pathPattern       = `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`
	pathPrefixPattern = `\u002F[\u0021-\u007F]*`
)

var (
	nameRE       = regexp.MustCompile(`^` + namePattern + `$`)
	pathRE       = regexp.MustCompile(`^(/|/[\x21-\x7E]+/)$`)
	pathPrefixRE = regexp.MustCompile(`^/[\x21-\x7F]*$`)
)

// validationError is AWS's message for a request member that breaks a model constraint.
func validationError(value, member, constraint string) error {
	return apierr.New(apierr.Invalid, "ValidationError",
		"1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

func missingMember(member string) error {
	return apierr.New(apierr.Invalid, "ValidationError",
		"1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}

func invalidInput(format string, args ...any) error {
	return apierr.New(apierr.Invalid, "InvalidInput", format, args...)
}

func noSuchEntity(format string, args ...any) error {
	return apierr.New(apierr.NotFound, "NoSuchEntity", format, args...)
}

func alreadyExists(format string, args ...any) error {
	return apierr.New(apierr.AlreadyExists, "EntityAlreadyExists", format, args...)
}

func deleteConflict(format string, args ...any) error {
	return apierr.New(apierr.Conflict, "DeleteConflict", format, args...)
}

func limitExceeded(format string, args ...any) error {
	return apierr.New(apierr.LimitExceeded, "LimitExceeded", format, args...)
}

func malformedPolicy(msg string) error {
	return apierr.New(apierr.Invalid, "MalformedPolicyDocument", "%s", msg)
}

// name checks a required entity or policy name: member is the model's member name in lowerCamel.
func checkName(v *string, member string, max int) (string, error) {
	if v == nil {
		return "", missingMember(member)
	}
	n := *v
	if len(n) < 1 {
		return "", validationError(n, member, "Member must have length greater than or equal to 1")
	}
	if len(n) > max {
		return "", validationError(n, member, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
	if !nameRE.MatchString(n) {
		return "", validationError(n, member, "Member must satisfy regular expression pattern: "+namePattern)
	}
	return n, nil
}

// path checks an optional path, "/" when absent.
func checkPath(v *string, member string) (string, error) {
	if v == nil {
		return "/", nil
	}
	p := *v
	if len(p) > 512 {
		return "", validationError(p, member, "Member must have length less than or equal to 512")
	}
	if !pathRE.MatchString(p) {
		return "", validationError(p, member, "Member must satisfy regular expression pattern: "+pathPattern)
	}
	return p, nil
}

// pathPrefix checks an optional path prefix filter, "/" when absent.
func checkPathPrefix(v *string) (string, error) {
	if v == nil {
		return "/", nil
	}
	p := *v
	if len(p) > 512 {
		return "", validationError(p, "pathPrefix", "Member must have length less than or equal to 512")
	}
	if !pathPrefixRE.MatchString(p) {
		return "", validationError(p, "pathPrefix", "Member must satisfy regular expression pattern: "+pathPrefixPattern)
	}
	return p, nil
}

func checkDescription(v *string) (string, error) {
	d := strOr(v, "")
	if len(d) > 1000 {
		return "", validationError(d, "description", "Member must have length less than or equal to 1000")
	}
	return d, nil
}

func checkPolicyARN(v *string) (string, error) {
	if v == nil {
		return "", missingMember("policyArn")
	}
	if len(*v) < 20 {
		return "", validationError(*v, "policyArn", "Member must have length greater than or equal to 20")
	}
	if _, _, _, ok := ident.ParsePolicyARN(*v); !ok {
		return "", invalidInput("ARN %s is not valid.", *v)
	}
	return *v, nil
}

// document reads a policy document parameter. IAM accepts documents URL-encoded as well as plain.
func document(v *string, member string) (string, error) {
	if v == nil {
		return "", missingMember(member)
	}
	doc := strings.TrimSpace(*v)
	if strings.HasPrefix(doc, "%") {
		if dec, err := url.PathUnescape(doc); err == nil {
			doc = dec
		}
	}
	if doc == "" {
		return "", validationError(doc, member, "Member must have length greater than or equal to 1")
	}
	return doc, nil
}

// identityDocument reads and validates an identity-based policy document.
func identityDocument(v *string, member string) (string, error) {
	doc, err := document(v, member)
	if err != nil {
		return "", err
	}
	p, err := policy.Parse(doc)
	if err == nil {
		err = policy.ValidateIdentity(p)
	}
	return doc, policyError(err)
}

// trustDocument reads and validates a role trust policy.
func trustDocument(v *string, member string) (string, error) {
	doc, err := document(v, member)
	if err != nil {
		return "", err
	}
	p, err := policy.Parse(doc)
	if err == nil {
		err = policy.ValidateTrust(p)
	}
	return doc, policyError(err)
}

func policyError(err error) error {
	if err == nil {
		return nil
	}
	var pe *policy.ParseError
	if errors.As(err, &pe) {
		return malformedPolicy(pe.Message)
	}
	return malformedPolicy(err.Error())
}

// policySize is how IAM measures policies against their quotas: without whitespace.
func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// encodeDocument URL-encodes a policy document for output, as IAM does in every response that carries one:
// every byte but RFC 3986's unreserved characters is percent-encoded, so clients' URL-decoding (botocore's
// unquote, Go's QueryUnescape) restores the document exactly.
func encodeDocument(doc string) *string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(doc) * 2)
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	s := b.String()
	return &s
}

// Pagination: items are listed in order of a key, and a marker is the key of the first item of the next
// page, opaque to the client.

const defaultMaxItems = 100

func paginate[T any](items []T, key func(T) string, marker *string, maxItems *int32) ([]T, *bool, *string, error) {
	limit := defaultMaxItems
	if maxItems != nil {
		if *maxItems < 1 {
			return nil, nil, nil, validationError(fmt.Sprint(*maxItems), "maxItems", "Member must have value greater than or equal to 1")
		}
		if *maxItems > 1000 {
			return nil, nil, nil, validationError(fmt.Sprint(*maxItems), "maxItems", "Member must have value less than or equal to 1000")
		}
		limit = int(*maxItems)
	}
	sort.SliceStable(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := 0
	if marker != nil && *marker != "" {
		from, err := base64.RawURLEncoding.DecodeString(*marker)
		if err != nil {
			return nil, nil, nil, invalidInput("Invalid Marker.")
		}
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) >= string(from) })
	}
	end := min(start+limit, len(items))
	if end < len(items) {
		next := base64.RawURLEncoding.EncodeToString([]byte(key(items[end])))
		return items[start:end], boolp(true), &next, nil
	}
	return items[start:end], boolp(false), nil, nil
}
