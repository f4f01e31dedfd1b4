package iam

import (
	"crypto/sha256"
	"sort"
	"sync"
	"time"
)

// awsPolicy is one entry of the catalogue of AWS-managed policies.
type awsPolicy struct {
	name, path, description, document string
}

var (
	awsCatalogueOnce sync.Once
	awsByARN         map[string]*ManagedPolicy
	awsSorted        []*ManagedPolicy
)

// awsPolicyDate is the creation date shown for catalogue policies; AWS shows each policy's real one, which
// clients do not depend on.
var awsPolicyDate = time.Date(2015, 2, 6, 18, 40, 0, 0, time.UTC)

func loadAWSCatalogue() {
	awsByARN = make(map[string]*ManagedPolicy, len(awsCatalogue))
	for _, c := range awsCatalogue {
		arn := ARN(AWSAccount, "policy", c.path, c.name)
		// Ids are derived from the ARN so they stay the same across restarts, as AWS's do.
		sum := sha256.Sum256([]byte(arn))
		id := make([]byte, 17)
		for i := range id {
			id[i] = idAlphabet[int(sum[i])%len(idAlphabet)]
		}
		mp := &ManagedPolicy{
			Account: AWSAccount, Name: c.name, Path: c.path, ID: PrefixPolicy + string(id), ARN: arn,
			Description: c.description, Created: awsPolicyDate, Updated: awsPolicyDate,
			DefaultVersion: "v1", NextVersion: 2,
			Versions: []PolicyVersion{{ID: "v1", Document: c.document, Created: awsPolicyDate}},
		}
		awsByARN[arn] = mp
		awsSorted = append(awsSorted, mp)
	}
	sort.Slice(awsSorted, func(i, j int) bool { return awsSorted[i].Name < awsSorted[j].Name })
}

// AWSManagedPolicy returns the AWS-managed policy with arn, or nil. The result is shared: do not modify it.
func AWSManagedPolicy(arn string) *ManagedPolicy {
	awsCatalogueOnce.Do(loadAWSCatalogue)
	return awsByARN[arn]
}

// AWSManagedPolicies returns the catalogue ordered by name. The results are shared: do not modify them.
func AWSManagedPolicies() []*ManagedPolicy {
	awsCatalogueOnce.Do(loadAWSCatalogue)
	return awsSorted
}
