package controllersvc

import (
	"errors"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Why a ticket could not be handed to a Listen stream.
var (
	errNotListening = errors.New("not listening")
	errBufferFull   = errors.New("buffer full")
)

// listener is one Listen stream: the tickets Dial hands it, and the signal that a newer
// Listen for the same lease took its place.
type listener struct {
	tickets  chan *jumpstarterv1.ListenResponse
	replaced chan struct{}
}

// listeners are the current Listen streams by lease UID. The UID, not the name, so that a
// stream opened for a lease never receives the tickets of a later lease of the same name.
type listeners struct {
	mu    sync.Mutex
	byUID map[types.UID]*listener
}

// register makes a new listener the lease's current one, retiring the previous.
func (ls *listeners) register(uid types.UID) *listener {
	l := &listener{tickets: make(chan *jumpstarterv1.ListenResponse, ListenerBuffer), replaced: make(chan struct{})}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.byUID == nil {
		ls.byUID = map[types.UID]*listener{}
	}
	if old := ls.byUID[uid]; old != nil {
		close(old.replaced)
	}
	ls.byUID[uid] = l
	return l
}

// unregister removes l if it is still the lease's current listener.
func (ls *listeners) unregister(uid types.UID, l *listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.byUID[uid] == l {
		delete(ls.byUID, uid)
	}
}

// deliver hands a ticket to the lease's current listener without waiting. Under the lock, so
// that a replaced listener, which drains its buffer after the replacement, gets nothing more.
func (ls *listeners) deliver(uid types.UID, ticket *jumpstarterv1.ListenResponse) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.byUID[uid]
	if l == nil {
		return errNotListening
	}
	select {
	case l.tickets <- ticket:
		return nil
	default:
		return errBufferFull
	}
}

// Listen streams the tickets of Dials on a lease the calling exporter holds. A newer Listen
// for the same lease replaces this one: it then sends what it has buffered and ends. It never
// ends on its own otherwise; the exporter learns of the lease's end from Status and cancels.
func (s *Server) Listen(req *jumpstarterv1.ListenRequest, stream grpc.ServerStreamingServer[jumpstarterv1.ListenResponse]) error {
	ctx := stream.Context()
	id, err := caller(ctx, identity.KindExporter)
	if err != nil {
		return err
	}
	if req.GetLeaseName() == "" {
		return status.Error(codes.InvalidArgument, "lease_name is required")
	}
	lease := &jumpstarterv1alpha1.Lease{}
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: id.Namespace, Name: req.GetLeaseName()}, lease); err != nil {
		if apierrors.IsNotFound(err) {
			return status.Error(codes.PermissionDenied, "permission denied")
		}
		return status.Errorf(codes.Internal, "get lease %s: %v", req.GetLeaseName(), err)
	}
	if !isActive(lease) || lease.Status.ExporterRef.Name != id.Name {
		return status.Error(codes.PermissionDenied, "permission denied")
	}

	logger := klog.FromContext(ctx).WithValues("lease", klog.KObj(lease), "exporter", objectKey(id))
	l := s.listeners.register(lease.UID)
	defer s.listeners.unregister(lease.UID, l)
	logger.V(2).Info("Exporter listening")
	for {
		select {
		case <-ctx.Done():
			return contextError(ctx)
		case ticket := <-l.tickets:
			if err := stream.Send(ticket); err != nil {
				return err
			}
		case <-l.replaced:
			for {
				select {
				case ticket := <-l.tickets:
					if err := stream.Send(ticket); err != nil {
						return err
					}
				default:
					logger.V(2).Info("Listen replaced by a newer one")
					return nil
				}
			}
		}
	}
}
