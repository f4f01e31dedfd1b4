package guestinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind says what a user data blob is.
type Kind string

const (
	KindNone        Kind = ""             // empty user data
	KindScript      Kind = "script"       // starts with #!
	KindCloudConfig Kind = "cloud-config" // starts with #cloud-config
	KindUnknown     Kind = "unknown"      // anything else: logged and ignored, as cloud-init does
)

// UserData is user data as the init understands it.
type UserData struct {
	Kind   Kind
	Script []byte       // KindScript: the script, shebang included
	Config *CloudConfig // KindCloudConfig
}

// CloudConfig is the subset of cloud-config the init carries out.
type CloudConfig struct {
	BootCmd    []Command   // every boot, before anything else
	WriteFiles []WriteFile // first boot
	RunCmd     []Command   // first boot, after write_files
	// Ignored lists the top-level keys present but not supported, so the console can say so.
	Ignored []string
}

// Command is one bootcmd or runcmd entry: a string for sh -c, or an argv list.
type Command struct {
	Shell string
	Argv  []string
}

// ShellLine renders the command as one line of a shell script, as cloud-init does for runcmd.
func (c Command) ShellLine() string {
	if c.Argv == nil {
		return c.Shell
	}
	quoted := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

// WriteFile is one write_files entry.
type WriteFile struct {
	Path        string
	Content     []byte // decoded
	Permissions uint32 // 0 means the default, 0644
	Owner       string // user:group; empty means root:root
	Append      bool
}

var gzipMagic = []byte{0x1f, 0x8b}

// ParseUserData decodes user data as cloud-init would: gzip and base64 wrappers are undone, then the first
// line decides the kind.
func ParseUserData(data []byte) (UserData, error) {
	data, err := unwrap(data)
	if err != nil {
		return UserData{}, err
	}
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return UserData{Kind: KindNone}, nil
	case bytes.HasPrefix(data, []byte("#!")):
		return UserData{Kind: KindScript, Script: data}, nil
	case bytes.HasPrefix(data, []byte("#cloud-config")):
		cfg, err := ParseCloudConfig(data)
		if err != nil {
			return UserData{}, err
		}
		return UserData{Kind: KindCloudConfig, Config: cfg}, nil
	default:
		return UserData{Kind: KindUnknown}, nil
	}
}

// unwrap undoes gzip and base64 layers (a client that base64-encodes twice is common enough).
func unwrap(data []byte) ([]byte, error) {
	for range 3 {
		switch {
		case bytes.HasPrefix(data, gzipMagic):
			out, err := gunzip(data)
			if err != nil {
				return nil, fmt.Errorf("user data: %w", err)
			}
			data = out
		case looksBase64(data):
			out, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(data), nil)))
			if err != nil || !(bytes.HasPrefix(out, []byte("#")) || bytes.HasPrefix(out, gzipMagic) || looksBase64(out)) {
				return data, nil
			}
			data = out
		default:
			return data, nil
		}
	}
	return data, nil
}

func gunzip(data []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 16<<20))
}

func looksBase64(data []byte) bool {
	data = bytes.TrimSpace(data)
	if len(data) < 4 || data[0] == '#' {
		return false
	}
	for _, c := range data {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=',
			c == '\n', c == '\r':
		default:
			return false
		}
	}
	return true
}

// ParseCloudConfig reads the cloud-config keys the init supports.
func ParseCloudConfig(data []byte) (*CloudConfig, error) {
	doc, err := parseYAML(string(data))
	if err != nil {
		return nil, fmt.Errorf("cloud-config: %w", err)
	}
	top, ok := doc.(map[string]any)
	if doc == nil {
		top, ok = map[string]any{}, true
	}
	if !ok {
		return nil, errors.New("cloud-config: the document is not a mapping")
	}
	cfg := &CloudConfig{}
	for _, key := range sortedKeys(top) {
		v := top[key]
		switch key {
		case "bootcmd":
			cfg.BootCmd, err = commands(key, v)
		case "runcmd":
			cfg.RunCmd, err = commands(key, v)
		case "write_files":
			cfg.WriteFiles, err = writeFiles(v)
		default:
			cfg.Ignored = append(cfg.Ignored, key)
		}
		if err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func commands(key string, v any) ([]Command, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("cloud-config: %s must be a list", key)
	}
	var out []Command
	for i, item := range list {
		switch item := item.(type) {
		case string:
			out = append(out, Command{Shell: item})
		case []any:
			argv := make([]string, 0, len(item))
			for _, a := range item {
				s, ok := a.(string)
				if !ok {
					return nil, fmt.Errorf("cloud-config: %s[%d] must be a list of strings", key, i)
				}
				argv = append(argv, s)
			}
			if len(argv) == 0 {
				continue
			}
			out = append(out, Command{Argv: argv})
		default:
			return nil, fmt.Errorf("cloud-config: %s[%d] must be a string or a list", key, i)
		}
	}
	return out, nil
}

func writeFiles(v any) ([]WriteFile, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("cloud-config: write_files must be a list")
	}
	var out []WriteFile
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("cloud-config: write_files[%d] must be a mapping", i)
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		wf := WriteFile{Path: str("path"), Owner: str("owner"), Append: str("append") == "true"}
		if wf.Path == "" {
			return nil, fmt.Errorf("cloud-config: write_files[%d] has no path", i)
		}
		if p := str("permissions"); p != "" {
			perm, err := strconv.ParseUint(p, 8, 32)
			if err != nil {
				return nil, fmt.Errorf("cloud-config: write_files[%d]: permissions %q is not octal", i, p)
			}
			wf.Permissions = uint32(perm)
		}
		content, err := decodeContent([]byte(str("content")), str("encoding"))
		if err != nil {
			return nil, fmt.Errorf("cloud-config: write_files[%d]: %w", i, err)
		}
		wf.Content = content
		out = append(out, wf)
	}
	return out, nil
}

func decodeContent(content []byte, encoding string) ([]byte, error) {
	var err error
	switch strings.ToLower(encoding) {
	case "", "text/plain":
		return content, nil
	case "b64", "base64":
		return base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(content), nil)))
	case "gz", "gzip":
		return gunzip(content)
	case "gz+b64", "gzip+base64", "gz+base64", "gzip+b64":
		content, err = base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(content), nil)))
		if err != nil {
			return nil, err
		}
		return gunzip(content)
	default:
		return nil, fmt.Errorf("unknown encoding %q", encoding)
	}
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' || r == ',' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
