package iam

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"unicode"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	ident "github.com/overcast-cloud/overcast/internal/iam"
)

// Passwords are kept as PBKDF2-SHA256 hashes with a random salt; the iteration count follows OWASP's advice
// and is recorded with each hash, so tests may lower it.
var pbkdf2Iterations = 600_000

func hashPassword(password string, salt []byte, iterations int) []byte {
	h, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		panic(err) // only for parameters out of FIPS range, which these are not
	}
	return h
}

// withPassword returns lp with a fresh salt and the hash of password.
func withPassword(lp ident.LoginProfile, password string, reset bool) ident.LoginProfile {
	lp.Salt = make([]byte, 16)
	rand.Read(lp.Salt)
	lp.Iterations = pbkdf2Iterations
	lp.Hash = hashPassword(password, lp.Salt, lp.Iterations)
	lp.ResetRequired = reset
	return lp
}

func passwordMatches(lp *ident.LoginProfile, password string) bool {
	return subtle.ConstantTimeCompare(hashPassword(password, lp.Salt, lp.Iterations), lp.Hash) == 1
}

// checkPassword applies AWS's default password policy: 8 to 128 characters of at least three of the four
// kinds (upper case, lower case, digits, symbols).
func checkPassword(member string, v *string) (string, error) {
	if v == nil {
		return "", missingMember(member)
	}
	p := *v
	var upper, lower, digit, symbol int
	for _, r := range p {
		switch {
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			symbol = 1
		}
	}
	if len(p) < 8 || len(p) > 128 || upper+lower+digit+symbol < 3 {
		return "", apierr.New(apierr.Invalid, "PasswordPolicyViolation", "Password does not conform to the account password policy.")
	}
	return p, nil
}

func noSuchLoginProfile(user string) error {
	return noSuchEntity("Login Profile for User %s cannot be found.", user)
}

func (s *Service) CreateLoginProfile(ctx context.Context, in *iamapi.CreateLoginProfileRequest) (*iamapi.CreateLoginProfileResponse, error) {
	n, err := callerUserName(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	pw, err := checkPassword("password", in.Password)
	if err != nil {
		return nil, err
	}
	reset := in.PasswordResetRequired != nil && *in.PasswordResetRequired
	lp := withPassword(ident.LoginProfile{Created: s.now()}, pw, reset)
	u, err := userEntity.update(ctx, s, n, func(u *ident.User) error {
		if u.LoginProfile != nil {
			return alreadyExists("Login Profile for user %s already exists.", u.Name)
		}
		u.LoginProfile = &lp
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &iamapi.CreateLoginProfileResponse{LoginProfile: &iamapi.LoginProfile{
		UserName: str(u.Name), CreateDate: timep(lp.Created), PasswordResetRequired: boolp(reset),
	}}, nil
}

func (s *Service) GetLoginProfile(ctx context.Context, in *iamapi.GetLoginProfileRequest) (*iamapi.GetLoginProfileResponse, error) {
	u, err := s.callerUser(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	if u.LoginProfile == nil {
		return nil, noSuchLoginProfile(u.Name)
	}
	return &iamapi.GetLoginProfileResponse{LoginProfile: &iamapi.LoginProfile{
		UserName: str(u.Name), CreateDate: timep(u.LoginProfile.Created), PasswordResetRequired: boolp(u.LoginProfile.ResetRequired),
	}}, nil
}

func (s *Service) UpdateLoginProfile(ctx context.Context, in *iamapi.UpdateLoginProfileRequest) (*wire.Empty, error) {
	n, err := callerUserName(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	var pw string
	if in.Password != nil {
		if pw, err = checkPassword("password", in.Password); err != nil {
			return nil, err
		}
	}
	_, err = userEntity.update(ctx, s, n, func(u *ident.User) error {
		if u.LoginProfile == nil {
			return noSuchLoginProfile(u.Name)
		}
		lp := *u.LoginProfile
		if in.Password != nil {
			lp = withPassword(lp, pw, lp.ResetRequired)
		}
		if in.PasswordResetRequired != nil {
			lp.ResetRequired = *in.PasswordResetRequired
		}
		u.LoginProfile = &lp
		return nil
	})
	return empty(err)
}

func (s *Service) DeleteLoginProfile(ctx context.Context, in *iamapi.DeleteLoginProfileRequest) (*wire.Empty, error) {
	n, err := callerUserName(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	_, err = userEntity.update(ctx, s, n, func(u *ident.User) error {
		if u.LoginProfile == nil {
			return noSuchLoginProfile(u.Name)
		}
		u.LoginProfile = nil
		return nil
	})
	return empty(err)
}

// ChangePassword changes the calling IAM user's own password.
func (s *Service) ChangePassword(ctx context.Context, in *iamapi.ChangePasswordRequest) (*wire.Empty, error) {
	p := awsctx.From(ctx).Principal
	if p == nil || p.Type != "User" {
		return nil, apierr.New(apierr.Invalid, "InvalidUserType", "Only IAM users can change their own password.")
	}
	if in.OldPassword == nil {
		return nil, missingMember("oldPassword")
	}
	pw, err := checkPassword("newPassword", in.NewPassword)
	if err != nil {
		return nil, err
	}
	_, err = mutate(ctx, s.st, ident.UserKey(p.Account, p.Name), ident.NoSuchUser(p.Name), func(u *ident.User) error {
		if u.LoginProfile == nil {
			return noSuchLoginProfile(u.Name)
		}
		if !passwordMatches(u.LoginProfile, *in.OldPassword) {
			return apierr.Denied("AccessDenied", "The old password is incorrect.")
		}
		lp := withPassword(*u.LoginProfile, pw, false)
		u.LoginProfile = &lp
		return nil
	})
	return empty(err)
}
