package gateway

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
)

// alwaysAllowed are the operations AWS answers for every authenticated principal, whatever its policies say.
var alwaysAllowed = map[string]bool{
	"sts:GetCallerIdentity": true,
}

// authorize evaluates the principal's identity policies (and its session policy) for the operation's IAM
// action on each resource it acts on. Root is never checked.
func (g *Gateway) authorize(ctx context.Context, c *Call, in map[string]any) error {
	p := c.Principal
	if p.IsRoot() {
		return nil
	}
	action := c.Binding.IAMPrefix + ":" + c.Op.Name
	if a, ok := c.Binding.Actions[c.Op.Name]; ok {
		action = a
	}
	if alwaysAllowed[action] {
		return nil
	}
	resources := []string{"*"}
	if c.Binding.Resources != nil {
		if rs := c.Binding.Resources(c, c.Op, in); len(rs) > 0 {
			resources = rs
		}
	}
	identity, session, err := g.id.PoliciesFor(ctx, p)
	if err != nil {
		return err
	}
	cond, err := g.conditionContext(ctx, c, in)
	if err != nil {
		return err
	}
	for _, res := range resources {
		req := policy.Request{Action: action, Resources: []string{res}, Principal: p.ARN, Context: cond}
		d := policy.Evaluate(identity, req).Decision
		if d == policy.Allow && session != nil {
			if sd := policy.Evaluate([]*policy.Policy{session}, req).Decision; sd != policy.Allow {
				return accessDenied(c, action, res, sd == policy.ExplicitDeny, "a session policy")
			}
		}
		if d != policy.Allow {
			return accessDenied(c, action, res, d == policy.ExplicitDeny, "an identity-based policy")
		}
	}
	return nil
}

// conditionContext gathers the global condition keys of the request.
func (g *Gateway) conditionContext(ctx context.Context, c *Call, in map[string]any) (map[string][]string, error) {
	p := c.Principal
	req := awsctx.From(ctx)
	cond := map[string][]string{
		"aws:currenttime":      {c.Now.UTC().Format("2006-01-02T15:04:05Z")},
		"aws:epochtime":        {strconv.FormatInt(c.Now.Unix(), 10)},
		"aws:securetransport":  {strconv.FormatBool(req.Secure)},
		"aws:sourceip":         {req.SourceIP},
		"aws:requestedregion":  {c.Region},
		"aws:principalarn":     {p.ARN},
		"aws:principalaccount": {p.Account},
		"aws:userid":           {p.UserID},
		"aws:principaltype":    {p.Type},
	}
	if p.Type == "User" {
		cond["aws:username"] = []string{p.Name}
	}
	tags, err := g.id.PrincipalTags(ctx, p)
	if err != nil {
		return nil, err
	}
	for k, v := range tags {
		cond["aws:principaltag/"+strings.ToLower(k)] = []string{v}
	}
	if c.Binding.Model.Name == "s3" {
		for member, key := range map[string]string{"Prefix": "s3:prefix", "Delimiter": "s3:delimiter", "MaxKeys": "s3:max-keys"} {
			if v, ok := in[member]; ok {
				cond[key] = []string{fmt.Sprint(v)}
			}
		}
	}
	return cond, nil
}

// accessDenied builds AWS's denial in the form each protocol family uses.
func accessDenied(c *Call, action, resource string, explicit bool, kind string) error {
	why := "because no " + kind + " allows the " + action + " action"
	if explicit {
		why = "with an explicit deny in " + kind
	}
	base := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", c.Principal.ARN, action, resource, why)
	switch familyOf(c.Protocol) {
	case famEC2:
		return &apierr.Error{Class: apierr.AccessDenied, Code: "UnauthorizedOperation",
			Message: "You are not authorized to perform this operation. " + base}
	case famS3:
		return &apierr.Error{Class: apierr.AccessDenied, Code: "AccessDenied",
			Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: \"%s\" %s", c.Principal.ARN, action, resource, why)}
	case famJSON, famRESTJSON:
		return &apierr.Error{Class: apierr.AccessDenied, Code: "AccessDeniedException", Message: base}
	}
	return &apierr.Error{Class: apierr.AccessDenied, Code: "AccessDenied", Message: base}
}

// S3Actions are S3's IAM action names where they differ from the operation names.
var S3Actions = map[string]string{
	"ListObjectsV2":           "s3:ListBucket",
	"ListObjects":             "s3:ListBucket",
	"HeadBucket":              "s3:ListBucket",
	"ListBuckets":             "s3:ListAllMyBuckets",
	"HeadObject":              "s3:GetObject",
	"CreateMultipartUpload":   "s3:PutObject",
	"UploadPart":              "s3:PutObject",
	"CompleteMultipartUpload": "s3:PutObject",
	"CopyObject":              "s3:PutObject",
	"UploadPartCopy":          "s3:PutObject",
	"ListParts":               "s3:ListMultipartUploadParts",
	"ListMultipartUploads":    "s3:ListBucketMultipartUploads",
	"DeleteObjects":           "s3:DeleteObject",
	"GetBucketTagging":        "s3:GetBucketTagging",
	"PutBucketTagging":        "s3:PutBucketTagging",
}

// S3Resources names the bucket or object ARN an S3 operation acts on.
func S3Resources(_ *Call, op *wire.Operation, in map[string]any) []string {
	bucket, _ := in["Bucket"].(string)
	if bucket == "" {
		return nil
	}
	if key, ok := in["Key"].(string); ok && key != "" {
		return []string{"arn:aws:s3:::" + bucket + "/" + key}
	}
	if op.Name == "DeleteObjects" {
		return []string{"arn:aws:s3:::" + bucket + "/*"}
	}
	return []string{"arn:aws:s3:::" + bucket}
}

// IAMResources names the IAM entity an IAM operation acts on.
func IAMResources(c *Call, op *wire.Operation, in map[string]any) []string {
	acct := c.Principal.Account
	arn := func(kind, name string) []string { return []string{"arn:aws:iam::" + acct + ":" + kind + "/" + name} }
	if v, ok := in["PolicyArn"].(string); ok {
		return []string{v}
	}
	for member, kind := range map[string]string{"RoleName": "role", "GroupName": "group", "InstanceProfileName": "instance-profile"} {
		if v, ok := in[member].(string); ok {
			return arn(kind, v)
		}
	}
	if v, ok := in["UserName"].(string); ok {
		return arn("user", v)
	}
	if (op.Name == "GetUser" || op.Name == "ChangePassword" || op.Name == "ListAccessKeys" || op.Name == "CreateAccessKey") && c.Principal.Type == "User" {
		return []string{c.Principal.ARN}
	}
	return nil
}

// STSResources names the role AssumeRole acts on.
func STSResources(_ *Call, _ *wire.Operation, in map[string]any) []string {
	if v, ok := in["RoleArn"].(string); ok {
		return []string{v}
	}
	return nil
}
