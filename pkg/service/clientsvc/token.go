package clientsvc

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

// RotateToken issues a fresh token for the calling client; its current token stops working.
func (s *Server) RotateToken(ctx context.Context, req *clientv1.RotateTokenRequest) (*clientv1.RotateTokenResponse, error) {
	namespace, err := leaseapi.ParseNamespace("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	caller, err := s.authorize(ctx, namespace)
	if err != nil {
		return nil, err
	}
	if s.Tokens == nil {
		return nil, status.Error(codes.Unimplemented, "this server does not rotate tokens")
	}
	what := fmt.Sprintf("client %q", namespace+"/"+caller.Name)
	obj := &jumpstarterv1alpha1.Client{}
	if err := s.get(ctx, types.NamespacedName{Namespace: namespace, Name: caller.Name}, obj, false); err != nil {
		return nil, s.fail(ctx, err, what)
	}
	raw, claims, err := s.Tokens.Rotate(ctx, obj)
	if err != nil {
		return nil, s.fail(ctx, err, "token of "+what)
	}
	klog.FromContext(ctx).Info("Token rotated", "client", klog.KObj(obj), "expiresAt", claims.ExpiresAt)
	resp := &clientv1.RotateTokenResponse{Token: raw}
	if !claims.ExpiresAt.IsZero() {
		resp.Expiry = timestamppb.New(claims.ExpiresAt)
	}
	return resp, nil
}
