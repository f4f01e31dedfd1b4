package iam

import (
	"context"
	"errors"
	"regexp"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

const accessKeysPerUser = 2

var accessKeyIDRE = regexp.MustCompile(`^[\w]+$`)

func noSuchKey(id string) error {
	return noSuchEntity("The Access Key with id %s cannot be found.", id)
}

func checkAccessKeyID(v *string) (string, error) {
	if v == nil {
		return "", missingMember("accessKeyId")
	}
	if len(*v) < 16 || len(*v) > 128 {
		return "", validationError(*v, "accessKeyId", "Member must have length greater than or equal to 16")
	}
	if !accessKeyIDRE.MatchString(*v) {
		return "", validationError(*v, "accessKeyId", `Member must satisfy regular expression pattern: [\w]+`)
	}
	return *v, nil
}

func (s *Service) CreateAccessKey(ctx context.Context, in *iamapi.CreateAccessKeyRequest) (*iamapi.CreateAccessKeyResponse, error) {
	n, err := callerUserName(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	acct := account(ctx)
	key := ident.AccessKey{ID: ident.NewAccessKeyID(), Secret: ident.NewSecret(), Status: "Active", Created: s.now()}
	var u ident.User
	// The user's record and the key's index are written together so a key never exists half-made.
	err = retry(func() error {
		var rec store.Record
		if u, rec, err = userEntity.get(ctx, s, n); err != nil {
			return err
		}
		if len(u.AccessKeys) >= accessKeysPerUser {
			return limitExceeded("Cannot exceed quota for AccessKeysPerUser: %d", accessKeysPerUser)
		}
		u.AccessKeys = append(u.AccessKeys, key)
		putUser, err := store.PutOp(rec.Key, u, rec.ModRevision)
		if err != nil {
			return err
		}
		putIndex, err := store.PutOp(ident.AccessKeyKey(key.ID), ident.AccessKeyIndex{Account: acct, UserName: u.Name}, store.Absent)
		if err != nil {
			return err
		}
		_, err = s.st.Txn(ctx, putUser, putIndex)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &iamapi.CreateAccessKeyResponse{AccessKey: &iamapi.AccessKey{
		AccessKeyId: str(key.ID), SecretAccessKey: str(key.Secret), Status: str(key.Status),
		CreateDate: timep(key.Created), UserName: str(u.Name),
	}}, nil
}

func (s *Service) ListAccessKeys(ctx context.Context, in *iamapi.ListAccessKeysRequest) (*iamapi.ListAccessKeysResponse, error) {
	u, err := s.callerUser(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	page, trunc, next, err := paginate(append([]ident.AccessKey(nil), u.AccessKeys...), func(k ident.AccessKey) string { return k.ID }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListAccessKeysResponse{AccessKeyMetadata: []iamapi.AccessKeyMetadata{}, IsTruncated: trunc, Marker: next}
	for _, k := range page {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, iamapi.AccessKeyMetadata{
			AccessKeyId: str(k.ID), CreateDate: timep(k.Created), Status: str(k.Status), UserName: str(u.Name),
		})
	}
	return out, nil
}

func (s *Service) UpdateAccessKey(ctx context.Context, in *iamapi.UpdateAccessKeyRequest) (*wire.Empty, error) {
	id, err := checkAccessKeyID(in.AccessKeyId)
	if err != nil {
		return nil, err
	}
	if in.Status == nil {
		return nil, missingMember("status")
	}
	status := *in.Status
	if status != "Active" && status != "Inactive" {
		return nil, validationError(status, "status", "Member must satisfy enum value set: [Active, Inactive]")
	}
	n, err := callerUserName(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	_, err = userEntity.update(ctx, s, n, func(u *ident.User) error {
		k := u.Key(id)
		if k == nil {
			return noSuchKey(id)
		}
		k.Status = status
		return nil
	})
	return empty(err)
}

func (s *Service) DeleteAccessKey(ctx context.Context, in *iamapi.DeleteAccessKeyRequest) (*wire.Empty, error) {
	id, err := checkAccessKeyID(in.AccessKeyId)
	if err != nil {
		return nil, err
	}
	n, err := callerUserName(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	return empty(retry(func() error {
		u, rec, err := userEntity.get(ctx, s, n)
		if err != nil {
			return err
		}
		if u.Key(id) == nil {
			return noSuchKey(id)
		}
		kept := u.AccessKeys[:0]
		for _, k := range u.AccessKeys {
			if k.ID != id {
				kept = append(kept, k)
			}
		}
		u.AccessKeys = kept
		putUser, err := store.PutOp(rec.Key, u, rec.ModRevision)
		if err != nil {
			return err
		}
		_, err = s.st.Txn(ctx, putUser, store.DeleteOp(ident.AccessKeyKey(id), store.Any))
		return err
	}))
}

func (s *Service) GetAccessKeyLastUsed(ctx context.Context, in *iamapi.GetAccessKeyLastUsedRequest) (*iamapi.GetAccessKeyLastUsedResponse, error) {
	id, err := checkAccessKeyID(in.AccessKeyId)
	if err != nil {
		return nil, err
	}
	idx, _, err := store.Get[ident.AccessKeyIndex](ctx, s.st, ident.AccessKeyKey(id))
	if errors.Is(err, store.ErrNotFound) || err == nil && idx.Account != account(ctx) {
		return nil, noSuchKey(id)
	}
	if err != nil {
		return nil, err
	}
	// A key that was never used has no date, and N/A for where, as AWS shows it.
	last := &iamapi.AccessKeyLastUsed{Region: str("N/A"), ServiceName: str("N/A")}
	if use, ok := s.dir.LastKeyUse(id); ok {
		last = &iamapi.AccessKeyLastUsed{LastUsedDate: timep(use.Time.UTC().Truncate(1e9)), Region: str(use.Region), ServiceName: str(use.Service)}
	}
	return &iamapi.GetAccessKeyLastUsedResponse{UserName: str(idx.UserName), AccessKeyLastUsed: last}, nil
}
