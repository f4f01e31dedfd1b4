package imds

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/overcast-cloud/overcast/internal/apierr"
)

// Config is what the metadata service needs.
type Config struct {
	// Source tells which instance owns a request's source address.
	Source Source
	// Credentials issues role credentials. Nil serves no iam/ category, as if no instance had a role.
	Credentials Credentials
	Clock       func() time.Time // nil is time.Now
	Logger      *slog.Logger     // nil is slog.Default()
	// CredentialTTL is how long issued role credentials last (DefaultCredentialTTL when zero), and
	// RefreshBefore how long before their expiration the next set is issued (DefaultRefreshBefore when zero).
	CredentialTTL time.Duration
	RefreshBefore time.Duration
	// TokenSecret signs IMDSv2 tokens. Empty picks a random one, so tokens do not outlive the process; clients
	// answer the resulting 401 by fetching a new token, as they do on AWS.
	TokenSecret []byte
}

// Handler serves the instance metadata service. It must be served by an http.Server whose ConnContext is
// Handler.ConnContext (Server and Serve do this), so that it can set the hop limit of PUT responses.
type Handler struct {
	src    Source
	creds  *credCache // nil without Credentials
	clock  func() time.Time
	log    *slog.Logger
	tokens tokenSigner
}

// Log field names.
const (
	logInstance = "instance"
	logSource   = "source"
	logRole     = "role"
	logErr      = "err"
)

// New returns a Handler.
func New(cfg Config) *Handler {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CredentialTTL <= 0 {
		cfg.CredentialTTL = DefaultCredentialTTL
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	h := &Handler{src: cfg.Source, clock: cfg.Clock, log: cfg.Logger, tokens: newTokenSigner(cfg.TokenSecret)}
	if cfg.Credentials != nil {
		h.creds = &credCache{
			issuer: cfg.Credentials, clock: cfg.Clock, ttl: cfg.CredentialTTL, refreshBefore: cfg.RefreshBefore,
			entries: map[credKey]*credEntry{},
		}
	}
	return h
}

// Server returns an http.Server for h, with the ConnContext hook the hop limit needs.
func (h *Handler) Server() *http.Server {
	return &http.Server{
		Handler:           h,
		ConnContext:       h.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
}

// Serve serves on l until ctx is done, then closes l and every connection and returns nil. It returns early
// with the error that stops the listener.
func (h *Handler) Serve(ctx context.Context, l net.Listener) error {
	srv := h.Server()
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) && ctx.Err() != nil {
		return nil
	}
	return err
}

// The versions AWS lists at /. Every one serves the same tree as latest.
var versions = []string{
	"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01", "2008-09-01",
	"2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25", "2014-11-05", "2015-10-20",
	"2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24", "2019-10-01",
	"2020-10-27", "2021-01-03", "2021-03-23", "2021-07-15", "2022-09-24", "2024-04-11", "latest",
}

const tokenPath = "/latest/api/token"

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "EC2ws")
	ctx := r.Context()
	ip, err := remoteIP(r)
	if err != nil {
		h.log.Warn("metadata request without a source address", "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden)
		return
	}
	inst, err := h.src.InstanceByPrivateIP(ctx, ip)
	switch {
	case err != nil:
		h.log.Error("metadata source lookup failed", logSource, ip, logErr, err)
		writeError(w, http.StatusInternalServerError)
		return
	case inst == nil:
		// Only instances reach 169.254.169.254; anything else that gets here is refused, not answered.
		h.log.Debug("metadata request from an address no instance owns", logSource, ip)
		writeError(w, http.StatusForbidden)
		return
	case inst.HTTPEndpoint == "disabled":
		// AWS answers 403 when the instance's metadata endpoint is turned off. A per-instance refusal
		// of the connection is impossible here, since every instance shares this listener.
		writeError(w, http.StatusForbidden)
		return
	}
	if r.URL.Path == tokenPath {
		h.serveToken(w, r, inst)
		return
	}
	if err := restoreHopLimit(ctx); err != nil {
		h.log.Warn("restoring the hop limit", logInstance, inst.InstanceID, logErr, err)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "OPTIONS, GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed)
		return
	}
	// A request that carries a token is IMDSv2 and the token must be good, whatever HttpTokens says.
	v2 := false
	if _, ok := r.Header[headerToken]; ok {
		left, valid := h.tokens.verify(r.Header.Get(headerToken), inst.InstanceID, h.clock())
		if !valid {
			writeError(w, http.StatusUnauthorized)
			return
		}
		w.Header().Set(headerTokenTTL, strconv.Itoa(int(left/time.Second)))
		v2 = true
	} else if inst.HTTPTokens == "required" {
		writeError(w, http.StatusUnauthorized)
		return
	}
	h.serveMetadata(w, r, inst, v2)
}

// serveToken answers PUT /latest/api/token with a session token for the asking instance.
func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request, inst *Instance) {
	switch r.Method {
	case http.MethodPut:
	case http.MethodOptions:
		w.Header().Set("Allow", "OPTIONS, PUT")
		writeText(w, http.StatusOK, "text/plain", "")
		return
	default:
		w.Header().Set("Allow", "OPTIONS, PUT")
		writeError(w, http.StatusMethodNotAllowed)
		return
	}
	// A proxy adds X-Forwarded-For; AWS refuses token requests that came through one, since the token would
	// leave the instance.
	if _, proxied := r.Header["X-Forwarded-For"]; proxied {
		writeError(w, http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get(headerTokenTTL))
	if err != nil || ttl < 1 || ttl > maxTokenTTL {
		writeError(w, http.StatusBadRequest)
		return
	}
	hops := inst.HopLimit
	if hops < 1 {
		hops = 1
	}
	if err := setHopLimit(r.Context(), hops); err != nil {
		// Serving the token anyway would hand it to a container the hop limit is there to keep out.
		h.log.Error("setting the PUT response hop limit", logInstance, inst.InstanceID, logErr, err)
		writeError(w, http.StatusInternalServerError)
		return
	}
	token := h.tokens.mint(inst.InstanceID, h.clock().Add(time.Duration(ttl)*time.Second))
	w.Header().Set(headerTokenTTL, strconv.Itoa(ttl))
	writeText(w, http.StatusOK, "text/plain", token)
}

// serveMetadata answers GET and HEAD for everything but the token.
func (h *Handler) serveMetadata(w http.ResponseWriter, r *http.Request, inst *Instance, v2 bool) {
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if segs[0] == "" {
		writeText(w, http.StatusOK, "text/plain", strings.Join(versions, "\n"))
		return
	}
	if !isVersion(segs[0]) {
		writeError(w, http.StatusNotFound)
		return
	}
	// The version's own listing names its categories without the trailing slash of a directory.
	dyn, md := dynamic(inst), metaData(inst, h.iamDir(r.Context(), inst, v2))
	dyn.label, md.label = dyn.name, md.name
	root := dir(segs[0], dyn, md)
	if len(inst.UserData) > 0 {
		root.kids = append(root.kids, leaf("user-data", "")) // listed here, served below as raw bytes
	}
	if len(segs) >= 2 && segs[1] == "user-data" {
		if len(inst.UserData) == 0 || len(segs) > 2 && segs[2] != "" {
			writeError(w, http.StatusNotFound)
			return
		}
		writeText(w, http.StatusOK, "application/octet-stream", string(inst.UserData))
		return
	}
	body, err := walk(root, segs[1:])
	switch {
	case errors.Is(err, errNoSuchPath):
		writeError(w, http.StatusNotFound)
	case err != nil:
		h.log.Error("serving metadata", logInstance, inst.InstanceID, "path", r.URL.Path, logErr, err)
		writeError(w, http.StatusInternalServerError)
	default:
		writeText(w, http.StatusOK, "text/plain", body)
	}
}

func isVersion(v string) bool {
	for _, s := range versions {
		if s == v {
			return true
		}
	}
	return false
}

// iamDir is the iam/ category: nil when the instance has no role, which also forgets the credentials it had.
func (h *Handler) iamDir(ctx context.Context, inst *Instance, v2 bool) *node {
	if h.creds == nil {
		return nil
	}
	if inst.RoleName == "" {
		h.creds.drop(inst.InstanceID)
		return nil
	}
	// Both leaves show the same issued set; info only needs its LastUpdated.
	creds := func(render func(*roleCredentials) string) func() (string, error) {
		return func() (string, error) {
			c, err := h.creds.get(ctx, inst, v2)
			switch {
			case apierr.Is(err, apierr.NotFound):
				h.log.Warn("instance profile names a missing role", logInstance, inst.InstanceID, logRole, inst.RoleName)
				return "", errNoSuchPath
			case apierr.Is(err, apierr.AccessDenied):
				return assumeRoleDenied(inst.RoleName, h.clock()), nil
			case err != nil:
				return "", err
			}
			return render(c), nil
		}
	}
	info := &node{name: "info", load: creds(func(c *roleCredentials) string {
		return awsJSON(
			field{"Code", "Success"},
			field{"LastUpdated", awsTime(c.lastUpdated)},
			field{"InstanceProfileArn", inst.InstanceProfileARN},
			field{"InstanceProfileId", inst.InstanceProfileID},
		)
	})}
	role := &node{name: inst.RoleName, load: creds(func(c *roleCredentials) string {
		return awsJSON(
			field{"Code", "Success"},
			field{"LastUpdated", awsTime(c.lastUpdated)},
			field{"Type", "AWS-HMAC"},
			field{"AccessKeyId", c.accessKeyID},
			field{"SecretAccessKey", c.secret},
			field{"Token", c.token},
			field{"Expiration", awsTime(c.expiration)},
		)
	})}
	return dir("iam", info, dir("security-credentials", role))
}

// assumeRoleDenied is what AWS serves in place of credentials when the role's trust policy does not let EC2
// assume it.
func assumeRoleDenied(role string, now time.Time) string {
	return awsJSON(
		field{"Code", "AssumeRoleUnauthorizedAccess"},
		field{"Message", "EC2 cannot assume the role " + role + ".  Please see documentation at " +
			"http://docs.amazonwebservices.com/IAM/latest/UserGuide/RolesTroubleshooting.html."},
		field{"LastUpdated", awsTime(now)},
	)
}

func remoteIP(r *http.Request) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}

func writeText(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// writeError answers with AWS's XHTML error page for status.
func writeError(w http.ResponseWriter, status int) {
	title := strconv.Itoa(status) + " - " + http.StatusText(status)
	writeText(w, status, "text/html", `<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
	"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>`+title+`</title>
 </head>
 <body>
  <h1>`+title+`</h1>
 </body>
</html>
`)
}
