package protocol_test

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// generatedFiles are the file descriptors of the generated packages, named explicitly so the
// test fails to compile, rather than skip a file, when generation drops one.
var generatedFiles = map[string]protoreflect.FileDescriptor{
	"jumpstarter/v1/common.proto":        jumpstarterv1.File_jumpstarter_v1_common_proto,
	"jumpstarter/v1/kubernetes.proto":    jumpstarterv1.File_jumpstarter_v1_kubernetes_proto,
	"jumpstarter/v1/router.proto":        jumpstarterv1.File_jumpstarter_v1_router_proto,
	"jumpstarter/v1/jumpstarter.proto":   jumpstarterv1.File_jumpstarter_v1_jumpstarter_proto,
	"jumpstarter/v1/telemetry.proto":     jumpstarterv1.File_jumpstarter_v1_telemetry_proto,
	"jumpstarter/client/v1/client.proto": clientv1.File_jumpstarter_client_v1_client_proto,
}

// generatedServices are the gRPC service descriptions the generated packages register.
var generatedServices = []*grpc.ServiceDesc{
	&jumpstarterv1.ControllerService_ServiceDesc,
	&jumpstarterv1.ExporterService_ServiceDesc,
	&jumpstarterv1.RouterService_ServiceDesc,
	&jumpstarterv1.TelemetryService_ServiceDesc,
	&clientv1.ClientService_ServiceDesc,
}

func TestEveryFileIsInTheContract(t *testing.T) {
	want := map[string]bool{}
	for _, f := range contract {
		want[f.path] = true
	}
	for path := range generatedFiles {
		if !want[path] {
			t.Errorf("generated file %s is not in the contract", path)
		}
	}
	for path := range want {
		if generatedFiles[path] == nil {
			t.Errorf("contract file %s was not generated", path)
		}
	}
}

func TestFilesMatchContract(t *testing.T) {
	for _, want := range contract {
		t.Run(want.path, func(t *testing.T) {
			fd := generatedFiles[want.path]
			if fd == nil {
				t.Fatalf("no generated descriptor for %s", want.path)
			}
			checkFile(t, fd, want)
			for i := range fd.Messages().Len() {
				md := fd.Messages().Get(i)
				checkMessage(t, md, want.messages[md.FullName()])
			}
		})
	}
}

func checkFile(t *testing.T, fd protoreflect.FileDescriptor, want protoFile) {
	t.Helper()
	if fd.Path() != want.path {
		t.Errorf("path = %q, want %q", fd.Path(), want.path)
	}
	if fd.Package() != want.pkg {
		t.Errorf("package = %q, want %q", fd.Package(), want.pkg)
	}
	if fd.Syntax() != protoreflect.Proto3 {
		t.Errorf("syntax = %v, want proto3", fd.Syntax())
	}
	// Reflection-based tools (grpcurl, server reflection) find the file under its upstream path.
	if registered, err := protoregistry.GlobalFiles.FindFileByPath(want.path); err != nil || registered != fd {
		t.Errorf("file not registered under %q: %v", want.path, err)
	}

	var imports []string
	for i := range fd.Imports().Len() {
		imports = append(imports, fd.Imports().Get(i).Path())
	}
	expectSameSet(t, "imports", imports, want.imports)

	// Upstream declares no file-level option; go_package is injected by buf managed mode.
	opts := proto.Clone(fd.Options()).(*descriptorpb.FileOptions)
	opts.GoPackage = nil
	if !proto.Equal(opts, &descriptorpb.FileOptions{}) {
		t.Errorf("file options other than go_package are set: %v", opts)
	}

	expectSameSet(t, "enums", names(fd.Enums()), keys(want.enums))
	for i := range fd.Enums().Len() {
		ed := fd.Enums().Get(i)
		checkEnum(t, ed, want.enums[ed.FullName()])
	}
	expectSameSet(t, "messages", names(fd.Messages()), keys(want.messages))
	expectSameSet(t, "services", names(fd.Services()), keys(want.services))
	for i := range fd.Services().Len() {
		sd := fd.Services().Get(i)
		checkService(t, sd, want.services[sd.FullName()])
	}
}

func checkEnum(t *testing.T, ed protoreflect.EnumDescriptor, want []enumValue) {
	t.Helper()
	var got []enumValue
	for i := range ed.Values().Len() {
		v := ed.Values().Get(i)
		got = append(got, enumValue{string(v.Name()), v.Number()})
	}
	if !slices.Equal(got, want) {
		t.Errorf("enum %s values = %v, want %v", ed.FullName(), got, want)
	}
}

func checkMessage(t *testing.T, md protoreflect.MessageDescriptor, want []field) {
	t.Helper()
	if md.Enums().Len() != 0 {
		t.Errorf("message %s declares nested enums; the contract has none", md.FullName())
	}
	for i := range md.Messages().Len() {
		nested := md.Messages().Get(i)
		if !nested.IsMapEntry() {
			t.Errorf("message %s declares nested message %s; the contract has none", md.FullName(), nested.Name())
		}
	}
	for i := range md.Oneofs().Len() {
		od := md.Oneofs().Get(i)
		if !od.IsSynthetic() {
			t.Errorf("message %s declares oneof %s; the contract has none", md.FullName(), od.Name())
		}
	}

	wanted := map[protoreflect.FieldNumber]bool{}
	for _, w := range want {
		wanted[w.num] = true
		fd := md.Fields().ByNumber(w.num)
		if fd == nil {
			t.Errorf("%s: no field number %d (want %s %s %s)", md.FullName(), w.num, w.label, w.typ, w.name)
			continue
		}
		got := describe(fd)
		if got != w {
			t.Errorf("%s field %d = {%s %s %s}, want {%s %s %s}",
				md.FullName(), w.num, got.label, got.typ, got.name, w.label, w.typ, w.name)
		}
		checkPresence(t, fd, w.label)
		if dep := fd.Options().(*descriptorpb.FieldOptions).GetDeprecated(); dep != deprecatedFields[fd.FullName()] {
			t.Errorf("%s deprecated = %v, want %v", fd.FullName(), dep, !dep)
		}
	}
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if !wanted[fd.Number()] {
			got := describe(fd)
			t.Errorf("%s: field %d {%s %s %s} is not in the contract", md.FullName(), fd.Number(), got.label, got.typ, got.name)
		}
	}
}

// checkPresence checks what each label means for field presence on the wire and in Go.
func checkPresence(t *testing.T, fd protoreflect.FieldDescriptor, l label) {
	t.Helper()
	switch l {
	case optional:
		if !fd.HasPresence() || fd.ContainingOneof() == nil || !fd.ContainingOneof().IsSynthetic() {
			t.Errorf("%s: optional field without explicit presence", fd.FullName())
		}
	case plain:
		// A plain scalar has implicit presence; a message-typed field always has presence.
		if wantPresence := fd.Kind() == protoreflect.MessageKind; fd.HasPresence() != wantPresence {
			t.Errorf("%s: presence = %v, want %v", fd.FullName(), fd.HasPresence(), wantPresence)
		}
		if fd.ContainingOneof() != nil {
			t.Errorf("%s: plain field in oneof %s", fd.FullName(), fd.ContainingOneof().Name())
		}
	case repeated, mapped:
		if fd.HasPresence() {
			t.Errorf("%s: %s field with presence", fd.FullName(), l)
		}
	}
}

func checkService(t *testing.T, sd protoreflect.ServiceDescriptor, want []method) {
	t.Helper()
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.name] = true
		m := sd.Methods().ByName(protoreflect.Name(w.name))
		if m == nil {
			t.Errorf("%s: no method %s", sd.FullName(), w)
			continue
		}
		if got := describeMethod(m); got != w {
			t.Errorf("%s: method %s, want %s", sd.FullName(), got, w)
		}
	}
	for i := range sd.Methods().Len() {
		if m := sd.Methods().Get(i); !wanted[string(m.Name())] {
			t.Errorf("%s: method %s is not in the contract", sd.FullName(), describeMethod(m))
		}
	}
}

// TestMethodPaths checks the generated gRPC glue: the full method paths a peer puts on the
// wire, and which side streams.
func TestMethodPaths(t *testing.T) {
	got := map[string]streaming{}
	for _, sd := range generatedServices {
		for _, m := range sd.Methods {
			got["/"+sd.ServiceName+"/"+m.MethodName] = unary
		}
		for _, s := range sd.Streams {
			got["/"+sd.ServiceName+"/"+s.StreamName] = streamingOf(s.ClientStreams, s.ServerStreams)
		}
	}
	for _, w := range methodPaths {
		kind, ok := got[w.path]
		switch {
		case !ok:
			t.Errorf("%s is not served by any generated service", w.path)
		case kind != w.kind:
			t.Errorf("%s is %s, want %s", w.path, kind, w.kind)
		}
		delete(got, w.path)
	}
	for path := range got {
		t.Errorf("generated method %s is not in the contract", path)
	}
}

func describe(fd protoreflect.FieldDescriptor) field {
	l := plain
	switch {
	case fd.IsMap():
		l = mapped
	case fd.Cardinality() == protoreflect.Repeated:
		l = repeated
	case fd.HasOptionalKeyword():
		l = optional
	}
	return field{num: fd.Number(), name: string(fd.Name()), typ: typeName(fd), label: l}
}

func describeMethod(m protoreflect.MethodDescriptor) method {
	return method{
		name:     string(m.Name()),
		request:  string(m.Input().FullName()),
		response: string(m.Output().FullName()),
		kind:     streamingOf(m.IsStreamingClient(), m.IsStreamingServer()),
	}
}

func typeName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return fmt.Sprintf("map<%s, %s>", typeName(fd.MapKey()), typeName(fd.MapValue()))
	case fd.Kind() == protoreflect.MessageKind:
		return string(fd.Message().FullName())
	case fd.Kind() == protoreflect.EnumKind:
		return string(fd.Enum().FullName())
	default:
		return fd.Kind().String()
	}
}

func streamingOf(client, server bool) streaming {
	switch {
	case client && server:
		return bidi
	case server:
		return serverStream
	case client:
		return clientStream
	default:
		return unary
	}
}

type descriptorList[D protoreflect.Descriptor] interface {
	Len() int
	Get(int) D
}

func names[D protoreflect.Descriptor](list descriptorList[D]) []protoreflect.FullName {
	var out []protoreflect.FullName
	for i := range list.Len() {
		out = append(out, list.Get(i).FullName())
	}
	return out
}

func keys[V any](m map[protoreflect.FullName]V) []protoreflect.FullName {
	var out []protoreflect.FullName
	for k := range m {
		out = append(out, k)
	}
	return out
}

func expectSameSet[T ~string](t *testing.T, what string, got, want []T) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
