package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/drivers"
	"jumpstarter.dev/service/pkg/drivers/framestream"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// service serves a session's ExporterService and RouterService inside the tunnel.
type service struct {
	jumpstarterv1.UnimplementedExporterServiceServer
	jumpstarterv1.UnimplementedRouterServiceServer

	report *jumpstarterv1.GetReportResponse
	tree   *tree
	status *statusState
	logs   *logHub
	// logger has the exporter and the lease; calls log with it, as gRPC's contexts do not.
	logger klog.Logger
}

// GetReport is the driver tree, the exporter's labels and the message of the day.
func (s *service) GetReport(context.Context, *emptypb.Empty) (*jumpstarterv1.GetReportResponse, error) {
	return s.report, nil
}

// GetStatus is the exporter's own status.
func (s *service) GetStatus(context.Context, *jumpstarterv1.GetStatusRequest) (*jumpstarterv1.GetStatusResponse, error) {
	return s.status.get(), nil
}

// EndSession accepts the client's end: there is no afterLease hook to start, and the lease
// ends when the controller says so.
func (s *service) EndSession(context.Context, *jumpstarterv1.EndSessionRequest) (*jumpstarterv1.EndSessionResponse, error) {
	s.logger.V(1).Info("Client ended the session")
	return &jumpstarterv1.EndSessionResponse{Success: true, Message: proto.String("session ended; no afterLease hook configured")}, nil
}

// DriverCall runs a unary driver method.
func (s *service) DriverCall(ctx context.Context, req *jumpstarterv1.DriverCallRequest) (*jumpstarterv1.DriverCallResponse, error) {
	inst, err := s.lookup(req.GetUuid())
	if err != nil {
		return nil, err
	}
	caller, ok := inst.driver.(drivers.Caller)
	if !ok {
		return nil, drivers.MethodNotFound(req.GetMethod())
	}
	ctx = klog.NewContext(ctx, s.logger.WithValues("driver", inst.path, "method", req.GetMethod()))
	s.logs.publish(inst.uuid, "INFO", req.GetMethod(), fmt.Sprintf("calling %s", req.GetMethod()))
	result, err := caller.Call(ctx, req.GetMethod(), decodeArgs(req.GetArgs()))
	if err != nil {
		return nil, s.callError(ctx, inst, req.GetMethod(), err)
	}
	v, err := structpb.NewValue(result)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%s: result: %v", req.GetMethod(), err)
	}
	return &jumpstarterv1.DriverCallResponse{Uuid: inst.uuid, Result: v}, nil
}

// StreamingDriverCall runs a generator driver method, one response per item.
func (s *service) StreamingDriverCall(req *jumpstarterv1.StreamingDriverCallRequest, stream grpc.ServerStreamingServer[jumpstarterv1.StreamingDriverCallResponse]) error {
	inst, err := s.lookup(req.GetUuid())
	if err != nil {
		return err
	}
	caller, ok := inst.driver.(drivers.StreamingCaller)
	if !ok {
		return drivers.MethodNotFound(req.GetMethod())
	}
	ctx := klog.NewContext(stream.Context(), s.logger.WithValues("driver", inst.path, "method", req.GetMethod()))
	s.logs.publish(inst.uuid, "INFO", req.GetMethod(), fmt.Sprintf("calling %s", req.GetMethod()))
	err = caller.StreamingCall(ctx, req.GetMethod(), decodeArgs(req.GetArgs()), func(item any) error {
		v, err := structpb.NewValue(item)
		if err != nil {
			return status.Errorf(codes.Internal, "%s: result: %v", req.GetMethod(), err)
		}
		return stream.Send(&jumpstarterv1.StreamingDriverCallResponse{Uuid: inst.uuid, Result: v})
	})
	if err != nil {
		return s.callError(ctx, inst, req.GetMethod(), err)
	}
	return nil
}

// Stream serves a driver's byte stream, chosen by the request metadata.
func (s *service) Stream(stream grpc.BidiStreamingServer[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]) error {
	ctx := stream.Context()
	req, err := streamRequest(ctx)
	if err != nil {
		return err
	}
	if req.Kind != framestream.KindDriver {
		return status.Errorf(codes.Unimplemented, "%s streams are not supported by this exporter", req.Kind)
	}
	inst, err := s.lookup(req.UUID)
	if err != nil {
		return err
	}
	streamer, ok := inst.driver.(drivers.Streamer)
	if !ok {
		return drivers.MethodNotFound(req.Method)
	}
	logger := s.logger.WithValues("driver", inst.path, "method", req.Method)
	ctx = klog.NewContext(ctx, logger)
	local, err := streamer.OpenStream(ctx, req.Method)
	if err != nil {
		return s.callError(ctx, inst, req.Method, err)
	}
	defer local.Close()
	// The Python client waits for the initial metadata before it sends anything.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	s.logs.publish(inst.uuid, "INFO", req.Method, "stream opened")
	logger.V(1).Info("Driver stream opened")
	remote := framestream.NewServerConn(stream)
	defer remote.Close()
	err = framestream.Join(ctx, remote, local)
	logger.V(1).Info("Driver stream closed", "err", err)
	if err != nil && ctx.Err() == nil {
		return status.Errorf(codes.Unavailable, "%s: %v", req.Method, err)
	}
	return nil
}

// LogStream sends the session's log entries until the client goes.
func (s *service) LogStream(_ *emptypb.Empty, stream grpc.ServerStreamingServer[jumpstarterv1.LogStreamResponse]) error {
	entries, cancel := s.logs.subscribe()
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case e := <-entries:
			if err := stream.Send(e); err != nil {
				return err
			}
		}
	}
}

func (s *service) lookup(id string) (*instance, error) {
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "uuid: required, the driver instance")
	}
	inst, ok := s.tree.byUUID[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no driver instance with uuid %s", id)
	}
	return inst, nil
}

// callError gives a driver's error a gRPC status: its own, the context's, or UNKNOWN with
// its text (what the Python client shows as DriverError).
func (s *service) callError(ctx context.Context, inst *instance, method string, err error) error {
	s.logs.publish(inst.uuid, "ERROR", method, err.Error())
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if st, ok := status.FromError(err); ok {
		klog.FromContext(ctx).V(1).Info("Driver call refused", "code", st.Code(), "err", st.Message())
		return err
	}
	klog.FromContext(ctx).Info("Driver call failed", "err", err)
	return status.Error(codes.Unknown, err.Error())
}

func decodeArgs(args []*structpb.Value) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.AsInterface()
	}
	return out
}

func streamRequest(ctx context.Context) (framestream.Request, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(framestream.MetadataRequest)
	if len(values) != 1 {
		return framestream.Request{}, status.Errorf(codes.InvalidArgument, "metadata %s: want one JSON value naming the stream, got %d", framestream.MetadataRequest, len(values))
	}
	var req framestream.Request
	if err := json.Unmarshal([]byte(values[0]), &req); err != nil {
		return framestream.Request{}, status.Errorf(codes.InvalidArgument, "metadata %s: %v", framestream.MetadataRequest, err)
	}
	return req, nil
}
