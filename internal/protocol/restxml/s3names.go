package restxml

import "github.com/overcast-cloud/overcast/api/wire"

// s3Namespace is the namespace of every S3 document. botocore's S3 model leaves metadata.xmlNamespace out.
const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// s3RootNames are the root elements S3 writes for outputs without a payload member. Smithy's S3 model carries
// them as @xmlName on the output structures; botocore's model drops the trait, so they are restated here from
// the Smithy model (codegen/sdk-codegen/aws-models/s3.json in aws-sdk-go-v2). An output not listed is
// written under its shape name, which SDKs accept: they ignore the root's name.
var s3RootNames = map[string]string{
	"CompleteMultipartUploadOutput":                    "CompleteMultipartUploadResult",
	"CreateMultipartUploadOutput":                      "InitiateMultipartUploadResult",
	"CreateSessionOutput":                              "CreateSessionResult",
	"DeleteObjectsOutput":                              "DeleteResult",
	"GetBucketAccelerateConfigurationOutput":           "AccelerateConfiguration",
	"GetBucketAclOutput":                               "AccessControlPolicy",
	"GetBucketCorsOutput":                              "CORSConfiguration",
	"GetBucketLifecycleConfigurationOutput":            "LifecycleConfiguration",
	"GetBucketLifecycleOutput":                         "LifecycleConfiguration",
	"GetBucketLocationOutput":                          "LocationConstraint",
	"GetBucketLoggingOutput":                           "BucketLoggingStatus",
	"NotificationConfigurationDeprecated":              "NotificationConfiguration",
	"GetBucketRequestPaymentOutput":                    "RequestPaymentConfiguration",
	"GetBucketTaggingOutput":                           "Tagging",
	"GetBucketVersioningOutput":                        "VersioningConfiguration",
	"GetBucketWebsiteOutput":                           "WebsiteConfiguration",
	"GetObjectAclOutput":                               "AccessControlPolicy",
	"GetObjectAttributesOutput":                        "GetObjectAttributesResponse",
	"GetObjectTaggingOutput":                           "Tagging",
	"ListBucketAnalyticsConfigurationsOutput":          "ListBucketAnalyticsConfigurationResult",
	"ListBucketInventoryConfigurationsOutput":          "ListInventoryConfigurationsResult",
	"ListBucketMetricsConfigurationsOutput":            "ListMetricsConfigurationsResult",
	"ListBucketsOutput":                                "ListAllMyBucketsResult",
	"ListDirectoryBucketsOutput":                       "ListAllMyDirectoryBucketsResult",
	"ListMultipartUploadsOutput":                       "ListMultipartUploadsResult",
	"ListObjectVersionsOutput":                         "ListVersionsResult",
	"ListObjectsOutput":                                "ListBucketResult",
	"ListObjectsV2Output":                              "ListBucketResult",
	"ListPartsOutput":                                  "ListPartsResult",
	"ListBucketIntelligentTieringConfigurationsOutput": "ListBucketIntelligentTieringConfigurationsOutput",
}

// isS3 reports whether svc is S3, whose documents need the names botocore's model leaves out.
func isS3(svc *wire.Service) bool { return svc != nil && svc.ServiceID == "S3" }

// defaultNamespace is the namespace a root element declares when its shape names none.
func defaultNamespace(svc *wire.Service) *wire.XMLNamespace {
	switch {
	case svc == nil:
		return nil
	case svc.XMLNamespace != "":
		return &wire.XMLNamespace{URI: svc.XMLNamespace}
	case isS3(svc):
		return &wire.XMLNamespace{URI: s3Namespace}
	}
	return nil
}

// rootName is the root element of an output written without a payload member.
func rootName(op *wire.Operation) string {
	sh := op.Output.Shape
	if op.Output.LocationName != "" {
		return op.Output.LocationName
	}
	if sh.LocationName != "" {
		return sh.LocationName
	}
	if isS3(op.Service) {
		if n, ok := s3RootNames[sh.Name]; ok {
			return n
		}
	}
	return sh.Name
}
