package ec2

import (
	"context"

	"github.com/overcast-cloud/overcast/internal/apierr"
)

// Keys is KMS as EBS needs it: naming the key a volume or snapshot is encrypted under.
type Keys interface {
	// ResolveEBSKey resolves a KmsKeyId parameter (key id, key ARN, alias name or alias ARN) in the caller's
	// account and region to the key's ARN, making the AWS managed key when alias/aws/ebs names it first. An
	// unknown key fails with an apierr of class NotFound (Invalid for a malformed ARN, AccessDenied for another
	// account's key), a key that is disabled or pending deletion with class Conflict.
	ResolveEBSKey(ctx context.Context, keyParam string) (keyARN string, err error)
}

// ebsKey resolves a KmsKeyId parameter to the ARN of a usable key, with the errors EC2 gives. AWS checks the
// key asynchronously (the volume appears, then fails); Overcast checks it before making anything, and answers
// with the codes EC2 uses for those failures.
func (s *Service) ebsKey(ctx context.Context, keyParam string) (string, error) {
	if s.keys == nil {
		return resolveKMSKey(ctx, keyParam)
	}
	arn, err := s.keys.ResolveEBSKey(ctx, keyParam)
	switch {
	case err == nil:
		return arn, nil
	case apierr.Is(err, apierr.Conflict):
		return "", apierr.New(apierr.Conflict, "InvalidKMSKey.InvalidState", "The KMS key provided is in an incorrect state")
	case apierr.Is(err, apierr.NotFound), apierr.Is(err, apierr.Invalid), apierr.Is(err, apierr.AccessDenied):
		return "", unknownKMSKey(keyParam)
	}
	return "", err
}

func unknownKMSKey(id string) error {
	return apierr.InvalidParam("InvalidParameterValue",
		"Value (%s) for parameter kmsKeyId is invalid. The KMS key does not exist or is not a valid key id, key ARN or alias.", id)
}
