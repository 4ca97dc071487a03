package controllersvc

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Status tells the exporter which lease holds it: the current state at once, then one message
// per change, never the same message twice in a row. While it is open it is the exporter's
// heartbeat: lastSeen and Online are refreshed on connect and every heartbeat interval.
//
// A stream holds a one-slot wake-up channel, a ticker and its last message; it rereads the
// cache when woken, and on every tick as a safety net.
func (s *Server) Status(_ *jumpstarterv1.StatusRequest, stream grpc.ServerStreamingServer[jumpstarterv1.StatusResponse]) error {
	ctx := stream.Context()
	id, err := caller(ctx, identity.KindExporter)
	if err != nil {
		return err
	}
	key := objectKey(id)
	logger := klog.FromContext(ctx).WithValues("exporter", key)

	// Subscribe before the first read, so that no change falls between the two.
	changed, unsubscribe := s.notifier.subscribe(key)
	defer unsubscribe()
	if err := s.heartbeat(ctx, key, true); err != nil {
		return exporterError(key, err)
	}
	logger.V(2).Info("Status stream opened")
	ticker := s.clock.NewTicker(s.heartbeatInterval)
	defer ticker.Stop()

	var last *jumpstarterv1.StatusResponse
	for {
		current, err := s.currentStatus(ctx, key)
		if err != nil {
			return err
		}
		if last == nil || !proto.Equal(current, last) {
			if err := stream.Send(current); err != nil {
				return err
			}
			last = current
		}
		select {
		case <-ctx.Done():
			logger.V(2).Info("Status stream closed")
			return contextError(ctx)
		case <-changed:
		case <-ticker.C():
			if err := s.heartbeat(ctx, key, false); err != nil {
				if apierrors.IsNotFound(err) {
					return exporterError(key, err)
				}
				// A missed heartbeat is not fatal: the next one is due well before the
				// exporter would be declared offline.
				logger.Error(err, "Heartbeat failed")
			}
		}
	}
}

// currentStatus is the message the exporter's stream should carry now. A deleted exporter
// ends the stream.
func (s *Server) currentStatus(ctx context.Context, key types.NamespacedName) (*jumpstarterv1.StatusResponse, error) {
	exporter := &jumpstarterv1alpha1.Exporter{}
	if err := s.client.Get(ctx, key, exporter); err != nil {
		return nil, exporterError(key, fmt.Errorf("get exporter %s: %w", key, err))
	}
	if !exporter.DeletionTimestamp.IsZero() {
		return nil, status.Errorf(codes.NotFound, "exporter %s is being deleted", key)
	}
	lease, err := s.activeLease(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return statusResponse(lease), nil
}
