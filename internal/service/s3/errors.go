package s3

import (
	"net/http"

	"github.com/overcast-cloud/overcast/internal/apierr"
)

// S3's errors, with the codes, statuses and extra body members AWS gives them. Fields are named as the
// elements S3 puts beside Code and Message in its <Error> body.

func errNoSuchBucket(name string) error {
	return apierr.New(apierr.NotFound, "NoSuchBucket", "The specified bucket does not exist").With("BucketName", name)
}

func errNoSuchKey(key string) error {
	return apierr.New(apierr.NotFound, "NoSuchKey", "The specified key does not exist.").With("Key", key)
}

func errNoSuchUpload(uploadID string) error {
	return apierr.New(apierr.NotFound, "NoSuchUpload",
		"The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.").
		With("UploadId", uploadID)
}

func errAccessDenied() error {
	return apierr.New(apierr.AccessDenied, "AccessDenied", "Access Denied")
}

func errInvalidBucketName(name string) error {
	return apierr.New(apierr.Invalid, "InvalidBucketName", "The specified bucket is not valid.").With("BucketName", name)
}

func errInvalidArgument(name, value, format string, args ...any) error {
	return apierr.New(apierr.Invalid, "InvalidArgument", format, args...).
		With("ArgumentName", name).With("ArgumentValue", value)
}

func errInvalidRequest(format string, args ...any) error {
	return apierr.New(apierr.Invalid, "InvalidRequest", format, args...)
}

func errMalformedXML() error {
	return apierr.New(apierr.Invalid, "MalformedXML",
		"The XML you provided was not well-formed or did not validate against our published schema")
}

// errPreconditionFailed is a conditional request whose condition is false: 412.
func errPreconditionFailed(condition string) error {
	return apierr.New(apierr.Conflict, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold").
		With("Condition", condition).WithStatus(http.StatusPreconditionFailed)
}

// errNotModified is the 304 of a conditional GET or HEAD; the codec writes no body for it.
func errNotModified() error {
	return apierr.New(apierr.Invalid, "NotModified", "Not Modified").WithStatus(http.StatusNotModified)
}
