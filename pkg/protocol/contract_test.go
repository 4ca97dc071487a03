package protocol_test

// The wire contract (shared/protocol/jumpstarter-wire.md, sections 1 and 2) as tables, written
// by hand from the contract and never from the generated descriptors. descriptor_test.go
// checks the generated code against them.

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// label is the Label column of the contract's message tables.
type label int

const (
	plain    label = iota // "—": a proto3 singular field without the optional keyword
	optional              // the proto3 optional keyword: explicit presence
	repeated
	mapped // map<K, V>
)

func (l label) String() string {
	return [...]string{"plain", "optional", "repeated", "map"}[l]
}

// field is one row of a message table. typ is a scalar kind as proto spells it ("string",
// "int64", ...), the full name of a message or enum, or "map<K, V>".
type field struct {
	num   protoreflect.FieldNumber
	name  string
	typ   string
	label label
}

// streaming is the Streaming column of the method tables.
type streaming int

const (
	unary streaming = iota
	serverStream
	bidi
	clientStream // no method of the contract streams from the client only
)

func (s streaming) String() string {
	return [...]string{"unary", "server-streaming", "bidi", "client-streaming"}[s]
}

type method struct {
	name     string
	request  string
	response string
	kind     streaming
}

func (m method) String() string {
	return fmt.Sprintf("%s(%s) returns (%s), %s", m.name, m.request, m.response, m.kind)
}

type enumValue struct {
	name   string
	number protoreflect.EnumNumber
}

// protoFile is one row of the contract's file table (§1.2) with everything the file defines.
// imports leaves out the google/api/*.proto files: see the comment at the top of client.proto.
type protoFile struct {
	path     string
	pkg      protoreflect.FullName
	imports  []string
	enums    map[protoreflect.FullName][]enumValue
	messages map[protoreflect.FullName][]field
	services map[protoreflect.FullName][]method
}

const stringMap = "map<string, string>"

// deprecatedFields are the fields the contract marks `deprecated = true`; no other is.
var deprecatedFields = map[protoreflect.FullName]bool{
	"jumpstarter.client.v1.Exporter.online": true,
}

var contract = []protoFile{
	{
		path: "jumpstarter/v1/common.proto",
		pkg:  "jumpstarter.v1",
		enums: map[protoreflect.FullName][]enumValue{
			"jumpstarter.v1.ExporterStatus": {
				{"EXPORTER_STATUS_UNSPECIFIED", 0},
				{"EXPORTER_STATUS_OFFLINE", 1},
				{"EXPORTER_STATUS_AVAILABLE", 2},
				{"EXPORTER_STATUS_BEFORE_LEASE_HOOK", 3},
				{"EXPORTER_STATUS_LEASE_READY", 4},
				{"EXPORTER_STATUS_AFTER_LEASE_HOOK", 5},
				{"EXPORTER_STATUS_BEFORE_LEASE_HOOK_FAILED", 6},
				{"EXPORTER_STATUS_AFTER_LEASE_HOOK_FAILED", 7},
			},
			"jumpstarter.v1.LogSource": {
				{"LOG_SOURCE_UNSPECIFIED", 0},
				{"LOG_SOURCE_DRIVER", 1},
				{"LOG_SOURCE_BEFORE_LEASE_HOOK", 2},
				{"LOG_SOURCE_AFTER_LEASE_HOOK", 3},
				{"LOG_SOURCE_SYSTEM", 4},
			},
		},
	},
	{
		path: "jumpstarter/v1/kubernetes.proto",
		pkg:  "jumpstarter.v1",
		messages: map[protoreflect.FullName][]field{
			"jumpstarter.v1.LabelSelectorRequirement": {
				{1, "key", "string", plain},
				{2, "operator", "string", plain},
				{3, "values", "string", repeated},
			},
			"jumpstarter.v1.LabelSelector": {
				{1, "match_expressions", "jumpstarter.v1.LabelSelectorRequirement", repeated},
				{2, "match_labels", stringMap, mapped},
			},
			"jumpstarter.v1.Time": {
				{1, "seconds", "int64", optional},
				{2, "nanos", "int32", optional},
			},
			"jumpstarter.v1.Condition": {
				{1, "type", "string", optional},
				{2, "status", "string", optional},
				{3, "observedGeneration", "int64", optional},
				{4, "lastTransitionTime", "jumpstarter.v1.Time", optional},
				{5, "reason", "string", optional},
				{6, "message", "string", optional},
			},
		},
	},
	{
		path: "jumpstarter/v1/router.proto",
		pkg:  "jumpstarter.v1",
		enums: map[protoreflect.FullName][]enumValue{
			"jumpstarter.v1.FrameType": {
				{"FRAME_TYPE_DATA", 0},
				{"FRAME_TYPE_RST_STREAM", 3},
				{"FRAME_TYPE_PING", 6},
				{"FRAME_TYPE_GOAWAY", 7},
			},
		},
		messages: map[protoreflect.FullName][]field{
			"jumpstarter.v1.StreamRequest": {
				{1, "payload", "bytes", plain},
				{2, "frame_type", "jumpstarter.v1.FrameType", plain},
			},
			"jumpstarter.v1.StreamResponse": {
				{1, "payload", "bytes", plain},
				{2, "frame_type", "jumpstarter.v1.FrameType", plain},
			},
		},
		services: map[protoreflect.FullName][]method{
			"jumpstarter.v1.RouterService": {
				{"Stream", "jumpstarter.v1.StreamRequest", "jumpstarter.v1.StreamResponse", bidi},
			},
		},
	},
	{
		path: "jumpstarter/v1/jumpstarter.proto",
		pkg:  "jumpstarter.v1",
		imports: []string{
			"google/protobuf/duration.proto",
			"google/protobuf/empty.proto",
			"google/protobuf/struct.proto",
			"google/protobuf/timestamp.proto",
			"jumpstarter/v1/kubernetes.proto",
			"jumpstarter/v1/common.proto",
		},
		messages: map[protoreflect.FullName][]field{
			"jumpstarter.v1.RegisterRequest": {
				{1, "labels", stringMap, mapped},
				{2, "reports", "jumpstarter.v1.DriverInstanceReport", repeated},
			},
			"jumpstarter.v1.DriverInstanceReport": {
				{1, "uuid", "string", plain},
				{2, "parent_uuid", "string", optional},
				{3, "labels", stringMap, mapped},
				{4, "description", "string", optional},
				{5, "methods_description", stringMap, mapped},
			},
			"jumpstarter.v1.RegisterResponse": {
				{1, "uuid", "string", plain},
			},
			"jumpstarter.v1.UnregisterRequest": {
				{2, "reason", "string", plain},
			},
			"jumpstarter.v1.UnregisterResponse": {},
			"jumpstarter.v1.ListenRequest": {
				{1, "lease_name", "string", plain},
			},
			"jumpstarter.v1.ListenResponse": {
				{1, "router_endpoint", "string", plain},
				{2, "router_token", "string", plain},
			},
			"jumpstarter.v1.StatusRequest": {},
			"jumpstarter.v1.StatusResponse": {
				{1, "leased", "bool", plain},
				{2, "lease_name", "string", optional},
				{3, "client_name", "string", optional},
				{4, "context", stringMap, mapped},
			},
			"jumpstarter.v1.DialRequest": {
				{1, "lease_name", "string", plain},
			},
			"jumpstarter.v1.DialResponse": {
				{1, "router_endpoint", "string", plain},
				{2, "router_token", "string", plain},
			},
			"jumpstarter.v1.ReportStatusRequest": {
				{1, "status", "jumpstarter.v1.ExporterStatus", plain},
				{2, "message", "string", optional},
				{3, "release_lease", "bool", optional},
			},
			"jumpstarter.v1.ReportStatusResponse": {},
			"jumpstarter.v1.GetLeaseRequest": {
				{1, "name", "string", plain},
			},
			"jumpstarter.v1.GetLeaseResponse": {
				{1, "duration", "google.protobuf.Duration", plain},
				{2, "selector", "jumpstarter.v1.LabelSelector", plain},
				{3, "begin_time", "google.protobuf.Timestamp", optional},
				{4, "end_time", "google.protobuf.Timestamp", optional},
				{5, "exporter_uuid", "string", optional},
				{6, "conditions", "jumpstarter.v1.Condition", repeated},
			},
			"jumpstarter.v1.RequestLeaseRequest": {
				{1, "duration", "google.protobuf.Duration", plain},
				{2, "selector", "jumpstarter.v1.LabelSelector", plain},
			},
			"jumpstarter.v1.RequestLeaseResponse": {
				{1, "name", "string", plain},
			},
			"jumpstarter.v1.ReleaseLeaseRequest": {
				{1, "name", "string", plain},
			},
			"jumpstarter.v1.ReleaseLeaseResponse": {},
			"jumpstarter.v1.ListLeasesRequest":    {},
			"jumpstarter.v1.ListLeasesResponse": {
				{1, "names", "string", repeated},
			},
			"jumpstarter.v1.GetServiceEndpointsRequest": {},
			"jumpstarter.v1.GetServiceEndpointsResponse": {
				{1, "telemetry_endpoints", "jumpstarter.v1.TelemetryEndpoint", repeated},
			},
			"jumpstarter.v1.TelemetryEndpoint": {
				{1, "endpoint", "string", plain},
				{2, "certificate", "string", plain},
				{3, "min_severity", "string", plain},
			},
			"jumpstarter.v1.GetReportResponse": {
				{1, "uuid", "string", plain},
				{2, "labels", stringMap, mapped},
				{3, "reports", "jumpstarter.v1.DriverInstanceReport", repeated},
				{4, "alternative_endpoints", "jumpstarter.v1.Endpoint", repeated},
				{5, "motd", "string", plain},
			},
			"jumpstarter.v1.Endpoint": {
				{1, "endpoint", "string", plain},
				{2, "certificate", "string", plain},
				{3, "client_certificate", "string", plain},
				{4, "client_private_key", "string", plain},
			},
			"jumpstarter.v1.DriverCallRequest": {
				{1, "uuid", "string", plain},
				{2, "method", "string", plain},
				{3, "args", "google.protobuf.Value", repeated},
			},
			"jumpstarter.v1.DriverCallResponse": {
				{1, "uuid", "string", plain},
				{2, "result", "google.protobuf.Value", plain},
			},
			"jumpstarter.v1.StreamingDriverCallRequest": {
				{1, "uuid", "string", plain},
				{2, "method", "string", plain},
				{3, "args", "google.protobuf.Value", repeated},
			},
			"jumpstarter.v1.StreamingDriverCallResponse": {
				{1, "uuid", "string", plain},
				{2, "result", "google.protobuf.Value", plain},
			},
			"jumpstarter.v1.LogStreamResponse": {
				{1, "uuid", "string", plain},
				{2, "severity", "string", plain},
				{3, "message", "string", plain},
				{4, "source", "jumpstarter.v1.LogSource", optional},
				{5, "driver_type", "string", optional},
				{6, "operation", "string", optional},
				{7, "timestamp", "google.protobuf.Timestamp", optional},
				{8, "structured_fields", stringMap, mapped},
			},
			"jumpstarter.v1.ResetRequest":     {},
			"jumpstarter.v1.ResetResponse":    {},
			"jumpstarter.v1.GetStatusRequest": {},
			"jumpstarter.v1.GetStatusResponse": {
				{1, "status", "jumpstarter.v1.ExporterStatus", plain},
				{2, "message", "string", optional},
				{3, "status_version", "uint64", plain},
				{4, "previous_status", "jumpstarter.v1.ExporterStatus", optional},
			},
			"jumpstarter.v1.EndSessionRequest": {},
			"jumpstarter.v1.EndSessionResponse": {
				{1, "success", "bool", plain},
				{2, "message", "string", optional},
			},
		},
		services: map[protoreflect.FullName][]method{
			"jumpstarter.v1.ControllerService": {
				{"Register", "jumpstarter.v1.RegisterRequest", "jumpstarter.v1.RegisterResponse", unary},
				{"Unregister", "jumpstarter.v1.UnregisterRequest", "jumpstarter.v1.UnregisterResponse", unary},
				{"ReportStatus", "jumpstarter.v1.ReportStatusRequest", "jumpstarter.v1.ReportStatusResponse", unary},
				{"Listen", "jumpstarter.v1.ListenRequest", "jumpstarter.v1.ListenResponse", serverStream},
				{"Status", "jumpstarter.v1.StatusRequest", "jumpstarter.v1.StatusResponse", serverStream},
				{"Dial", "jumpstarter.v1.DialRequest", "jumpstarter.v1.DialResponse", unary},
				{"GetLease", "jumpstarter.v1.GetLeaseRequest", "jumpstarter.v1.GetLeaseResponse", unary},
				{"RequestLease", "jumpstarter.v1.RequestLeaseRequest", "jumpstarter.v1.RequestLeaseResponse", unary},
				{"ReleaseLease", "jumpstarter.v1.ReleaseLeaseRequest", "jumpstarter.v1.ReleaseLeaseResponse", unary},
				{"ListLeases", "jumpstarter.v1.ListLeasesRequest", "jumpstarter.v1.ListLeasesResponse", unary},
				{"GetServiceEndpoints", "jumpstarter.v1.GetServiceEndpointsRequest", "jumpstarter.v1.GetServiceEndpointsResponse", unary},
			},
			"jumpstarter.v1.ExporterService": {
				{"GetReport", "google.protobuf.Empty", "jumpstarter.v1.GetReportResponse", unary},
				{"DriverCall", "jumpstarter.v1.DriverCallRequest", "jumpstarter.v1.DriverCallResponse", unary},
				{"StreamingDriverCall", "jumpstarter.v1.StreamingDriverCallRequest", "jumpstarter.v1.StreamingDriverCallResponse", serverStream},
				{"LogStream", "google.protobuf.Empty", "jumpstarter.v1.LogStreamResponse", serverStream},
				{"Reset", "jumpstarter.v1.ResetRequest", "jumpstarter.v1.ResetResponse", unary},
				{"GetStatus", "jumpstarter.v1.GetStatusRequest", "jumpstarter.v1.GetStatusResponse", unary},
				{"EndSession", "jumpstarter.v1.EndSessionRequest", "jumpstarter.v1.EndSessionResponse", unary},
			},
		},
	},
	{
		path:    "jumpstarter/v1/telemetry.proto",
		pkg:     "jumpstarter.v1",
		imports: []string{"google/protobuf/timestamp.proto"},
		messages: map[protoreflect.FullName][]field{
			"jumpstarter.v1.PushLogsRequest": {
				{1, "entries", "jumpstarter.v1.LogEntry", repeated},
			},
			"jumpstarter.v1.PushLogsResponse": {
				{1, "accepted", "uint32", plain},
				{2, "dropped", "uint32", plain},
			},
			"jumpstarter.v1.LogEntry": {
				{1, "timestamp", "google.protobuf.Timestamp", plain},
				{2, "severity", "string", plain},
				{3, "message", "string", plain},
				{4, "component", "string", plain},
				{5, "exporter", "string", plain},
				{6, "lease", "string", plain},
				{7, "client", "string", plain},
				{8, "operation", "string", plain},
				{9, "result", "string", plain},
				{10, "driver_type", "string", plain},
				{11, "extra_fields", stringMap, mapped},
				{12, "namespace", "string", plain},
			},
		},
		services: map[protoreflect.FullName][]method{
			"jumpstarter.v1.TelemetryService": {
				{"PushLogs", "jumpstarter.v1.PushLogsRequest", "jumpstarter.v1.PushLogsResponse", unary},
			},
		},
	},
	{
		path: "jumpstarter/client/v1/client.proto",
		pkg:  "jumpstarter.client.v1",
		imports: []string{
			"google/protobuf/duration.proto",
			"google/protobuf/empty.proto",
			"google/protobuf/field_mask.proto",
			"google/protobuf/timestamp.proto",
			"jumpstarter/v1/kubernetes.proto",
			"jumpstarter/v1/common.proto",
		},
		messages: map[protoreflect.FullName][]field{
			"jumpstarter.client.v1.Exporter": {
				{1, "name", "string", plain},
				{2, "labels", stringMap, mapped},
				{3, "online", "bool", plain},
				{4, "status", "jumpstarter.v1.ExporterStatus", plain},
				{5, "status_message", "string", plain},
				{6, "enabled", "bool", optional},
				{7, "deprecated_labels", stringMap, mapped},
			},
			"jumpstarter.client.v1.Lease": {
				{1, "name", "string", plain},
				{2, "selector", "string", plain},
				{3, "duration", "google.protobuf.Duration", optional},
				{4, "effective_duration", "google.protobuf.Duration", plain},
				{5, "begin_time", "google.protobuf.Timestamp", optional},
				{6, "effective_begin_time", "google.protobuf.Timestamp", optional},
				{7, "end_time", "google.protobuf.Timestamp", optional},
				{8, "effective_end_time", "google.protobuf.Timestamp", optional},
				{9, "client", "string", optional},
				{10, "exporter", "string", optional},
				{11, "conditions", "jumpstarter.v1.Condition", repeated},
				{12, "exporter_name", "string", optional},
				{13, "tags", stringMap, mapped},
				{14, "allow_disabled", "bool", plain},
				{15, "context", stringMap, mapped},
				{16, "deprecated_labels", stringMap, mapped},
			},
			"jumpstarter.client.v1.GetExporterRequest": {
				{1, "name", "string", plain},
				{2, "show_hidden_labels", "bool", plain},
			},
			"jumpstarter.client.v1.ListExportersRequest": {
				{1, "parent", "string", plain},
				{2, "page_size", "int32", plain},
				{3, "page_token", "string", plain},
				{4, "filter", "string", plain},
				{5, "show_hidden_labels", "bool", plain},
			},
			"jumpstarter.client.v1.ListExportersResponse": {
				{1, "exporters", "jumpstarter.client.v1.Exporter", repeated},
				{2, "next_page_token", "string", plain},
			},
			"jumpstarter.client.v1.GetLeaseRequest": {
				{1, "name", "string", plain},
			},
			"jumpstarter.client.v1.ListLeasesRequest": {
				{1, "parent", "string", plain},
				{2, "page_size", "int32", plain},
				{3, "page_token", "string", plain},
				{4, "filter", "string", plain},
				{5, "only_active", "bool", optional},
				{6, "tag_filter", "string", plain},
			},
			"jumpstarter.client.v1.ListLeasesResponse": {
				{1, "leases", "jumpstarter.client.v1.Lease", repeated},
				{2, "next_page_token", "string", plain},
			},
			"jumpstarter.client.v1.CreateLeaseRequest": {
				{1, "parent", "string", plain},
				{2, "lease_id", "string", plain},
				{3, "lease", "jumpstarter.client.v1.Lease", plain},
			},
			"jumpstarter.client.v1.UpdateLeaseRequest": {
				{1, "lease", "jumpstarter.client.v1.Lease", plain},
				{2, "update_mask", "google.protobuf.FieldMask", plain},
			},
			"jumpstarter.client.v1.DeleteLeaseRequest": {
				{1, "name", "string", plain},
			},
			"jumpstarter.client.v1.RotateTokenRequest": {
				{1, "parent", "string", plain},
			},
			"jumpstarter.client.v1.RotateTokenResponse": {
				{1, "token", "string", plain},
				{2, "expiry", "google.protobuf.Timestamp", plain},
			},
		},
		services: map[protoreflect.FullName][]method{
			"jumpstarter.client.v1.ClientService": {
				{"GetExporter", "jumpstarter.client.v1.GetExporterRequest", "jumpstarter.client.v1.Exporter", unary},
				{"ListExporters", "jumpstarter.client.v1.ListExportersRequest", "jumpstarter.client.v1.ListExportersResponse", unary},
				{"GetLease", "jumpstarter.client.v1.GetLeaseRequest", "jumpstarter.client.v1.Lease", unary},
				{"ListLeases", "jumpstarter.client.v1.ListLeasesRequest", "jumpstarter.client.v1.ListLeasesResponse", unary},
				{"CreateLease", "jumpstarter.client.v1.CreateLeaseRequest", "jumpstarter.client.v1.Lease", unary},
				{"UpdateLease", "jumpstarter.client.v1.UpdateLeaseRequest", "jumpstarter.client.v1.Lease", unary},
				{"DeleteLease", "jumpstarter.client.v1.DeleteLeaseRequest", "google.protobuf.Empty", unary},
				{"RotateToken", "jumpstarter.client.v1.RotateTokenRequest", "jumpstarter.client.v1.RotateTokenResponse", unary},
			},
		},
	},
}

// methodPaths is the contract's table of gRPC method paths (§1.3): what a peer puts on the
// wire, checked against the generated grpc.ServiceDesc values.
var methodPaths = []struct {
	path string
	kind streaming
}{
	{"/jumpstarter.v1.ControllerService/Register", unary},
	{"/jumpstarter.v1.ControllerService/Unregister", unary},
	{"/jumpstarter.v1.ControllerService/ReportStatus", unary},
	{"/jumpstarter.v1.ControllerService/Listen", serverStream},
	{"/jumpstarter.v1.ControllerService/Status", serverStream},
	{"/jumpstarter.v1.ControllerService/Dial", unary},
	{"/jumpstarter.v1.ControllerService/GetLease", unary},
	{"/jumpstarter.v1.ControllerService/RequestLease", unary},
	{"/jumpstarter.v1.ControllerService/ReleaseLease", unary},
	{"/jumpstarter.v1.ControllerService/ListLeases", unary},
	{"/jumpstarter.v1.ControllerService/GetServiceEndpoints", unary},
	{"/jumpstarter.client.v1.ClientService/GetExporter", unary},
	{"/jumpstarter.client.v1.ClientService/ListExporters", unary},
	{"/jumpstarter.client.v1.ClientService/GetLease", unary},
	{"/jumpstarter.client.v1.ClientService/ListLeases", unary},
	{"/jumpstarter.client.v1.ClientService/CreateLease", unary},
	{"/jumpstarter.client.v1.ClientService/UpdateLease", unary},
	{"/jumpstarter.client.v1.ClientService/DeleteLease", unary},
	{"/jumpstarter.client.v1.ClientService/RotateToken", unary},
	{"/jumpstarter.v1.RouterService/Stream", bidi},
	{"/jumpstarter.v1.ExporterService/GetReport", unary},
	{"/jumpstarter.v1.ExporterService/DriverCall", unary},
	{"/jumpstarter.v1.ExporterService/StreamingDriverCall", serverStream},
	{"/jumpstarter.v1.ExporterService/LogStream", serverStream},
	{"/jumpstarter.v1.ExporterService/Reset", unary},
	{"/jumpstarter.v1.ExporterService/GetStatus", unary},
	{"/jumpstarter.v1.ExporterService/EndSession", unary},
	{"/jumpstarter.v1.TelemetryService/PushLogs", unary},
}
