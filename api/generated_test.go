package api_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/api/wire"
)

// Every operation's typed input and output must line up, field by field, with its shape's members: that is
// what lets the codecs' value trees fill the typed structs.
func TestTypedShapesMatchModels(t *testing.T) {
	for _, tc := range []struct {
		model    *wire.Service
		handlers map[string]wire.Handler
	}{
		{ec2.Model(), ec2.Handlers(ec2.Unimplemented{})},
		{iam.Model(), iam.Handlers(iam.Unimplemented{})},
		{s3.Model(), s3.Handlers(s3.Unimplemented{})},
	} {
		if len(tc.handlers) != len(tc.model.Operations) {
			t.Fatalf("%s: %d handlers for %d operations", tc.model.Name, len(tc.handlers), len(tc.model.Operations))
		}
		for name, h := range tc.handlers {
			op := tc.model.Operations[name]
			in := reflect.TypeOf(h.NewInput()).Elem()
			if op.Input == nil {
				continue
			}
			checkStruct(t, op.Input.Shape, in, map[string]bool{})
		}
	}
}

func checkStruct(t *testing.T, sh *wire.Shape, typ reflect.Type, seen map[string]bool) {
	if seen[sh.Name] {
		return
	}
	seen[sh.Name] = true
	if typ.NumField() != len(sh.Members) {
		t.Fatalf("%s: %d fields, %d members", sh.Name, typ.NumField(), len(sh.Members))
	}
	for i, m := range sh.Members {
		f := typ.Field(i)
		if !strings.EqualFold(strings.TrimRight(f.Name, "_"), strings.Map(func(r rune) rune {
			if r == '-' || r == '.' {
				return '_'
			}
			return r
		}, m.Name)) {
			t.Fatalf("%s: field %d is %s, member is %s", sh.Name, i, f.Name, m.Name)
		}
		if m.Shape.Type == wire.TypeStructure {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			checkStruct(t, m.Shape, ft, seen)
		}
	}
}

func TestTreeRoundTrip(t *testing.T) {
	op := iam.Model().Operations["CreateUser"]
	tree := map[string]any{
		"UserName": "dev",
		"Path":     "/team/",
		"Tags":     []any{map[string]any{"Key": "k", "Value": "v"}},
	}
	var in iam.CreateUserRequest
	if err := wire.ToTyped(op.Input.Shape, tree, &in); err != nil {
		t.Fatal(err)
	}
	if *in.UserName != "dev" || *in.Tags[0].Key != "k" {
		t.Fatalf("typed: %+v", in)
	}
	now := time.Unix(1700000000, 0).UTC()
	out := &iam.CreateUserResponse{User: &iam.User{UserName: in.UserName, CreateDate: &now, Arn: new(string)}}
	got := wire.FromTyped(iam.Model().Operations["CreateUser"].Output.Shape, out)
	user := got["User"].(map[string]any)
	if user["UserName"] != "dev" || user["CreateDate"] != now || user["Arn"] != "" {
		t.Fatalf("tree: %#v", got)
	}
	if _, ok := user["Path"]; ok {
		t.Fatalf("absent member present: %#v", user)
	}
}
